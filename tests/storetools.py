"""The store on both engines: `store_url` runs a test once on a SQLite file and once on its own
database on the session's real PostgreSQL (tests/pgtools.py). A module opts in by asking for
`store_url` (usually in its `engine` fixture); a single test opts in with `@both_stores` when
its fixtures take `store_kind`. The rest of the suite stays on SQLite.

`write_log` puts query-log rows in either store: SQLite through the real `QueryLogWriter`;
PostgreSQL, whose writer is the log writer's own business, with one plain INSERT.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

STORES = ("sqlite", "postgres")
# For a test whose fixtures take `store_kind`: run it on both (the default is SQLite alone).
both_stores = pytest.mark.parametrize("store_kind", STORES, indirect=True)


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a database on the test PostgreSQL."""
    with new_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """ "sqlite", unless the test says `@both_stores`."""
    return getattr(request, "param", "sqlite")


@contextlib.contextmanager
def new_database(request: pytest.FixtureRequest, kind: str, folder: Path) -> Iterator[str]:
    """A fresh, empty database of `kind`; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'data' / 'store.db'}"
        return
    server = request.getfixturevalue("pg_server")
    url = server.create_database()
    try:
        yield url
    finally:
        _drop(server, url.rsplit("/", 1)[1])


def _drop(server: object, name: str) -> None:
    """Drop a test's database, closing what it left open (engines live in module fixtures)."""
    import psycopg

    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(server.url(), autocommit=True) as conn,  # type: ignore[attr-defined]
    ):
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def is_postgres(url: str) -> bool:
    return url.startswith("postgres")


def write_log(url: str, entries: Iterable[object]) -> None:
    """Store query-log rows (`LogEntry`s) in the database at `url`."""
    from sqlalchemy import insert

    from agent.store.db import make_engine, sqlite_file
    from agent.store.querylog import QueryLogRow, QueryLogWriter

    path = sqlite_file(url)
    if path is not None:
        writer = QueryLogWriter(path)
        for entry in entries:
            writer.submit(entry)  # type: ignore[arg-type]
        assert writer.stop()
        return
    engine = make_engine(url)
    try:
        rows = [e._asdict() for e in entries]  # type: ignore[attr-defined]
        if rows:
            with engine.begin() as conn:
                conn.execute(insert(QueryLogRow.__table__), rows)  # type: ignore[arg-type]
    finally:
        engine.dispose()
