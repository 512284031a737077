"""The store on both engines: `store_url` runs a test once on a SQLite file and once on its own
database on the session's real PostgreSQL (tests/pgtools.py). A module opts in by asking for
`store_url` (usually in its `engine` fixture); a single test opts in with `@both_stores` when
its fixtures take `store_kind`. The rest of the suite stays on SQLite.

`write_log` puts query-log rows in either store: SQLite through the real `QueryLogWriter`;
PostgreSQL, whose writer is the log writer's own business, with one plain INSERT.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

STORES = ("sqlite", "postgres")
# For a test whose fixtures take `store_kind`: run it on both (the default is SQLite alone).
both_stores = pytest.mark.parametrize("store_kind", STORES, indirect=True)


@pytest.fixture(params=STORES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the newest revision: a SQLite file, or a database on the test
    PostgreSQL."""
    with new_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def store_kind(request: pytest.FixtureRequest) -> str:
    """ "sqlite", unless the test says `@both_stores`."""
    return getattr(request, "param", "sqlite")


@contextlib.contextmanager
def new_database(request: pytest.FixtureRequest, kind: str, folder: Path) -> Iterator[str]:
    """A fresh database of `kind` at the newest revision (as the jobs process leaves it),
    copied from one migrated once per session; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        path = folder / "data" / "store.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        template = _sqlite_template(request.getfixturevalue("tmp_path_factory"))
        with closing(sqlite3.connect(template)) as src, closing(sqlite3.connect(path)) as dst:
            src.backup(dst)
        yield f"sqlite:///{path}"
        return
    server = request.getfixturevalue("pg_server")
    name = f"hr_{uuid.uuid4().hex[:12]}"
    with _admin(server) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_pg_template(server)}"')
    try:
        yield server.url(name)
    finally:
        _drop(server, name)


_TEMPLATES: dict[object, str] = {}


def _sqlite_template(factory: pytest.TempPathFactory) -> Path:
    if "sqlite" not in _TEMPLATES:
        from agent.store.migrate import migrate

        path = factory.mktemp("template") / "store.db"
        migrate(f"sqlite:///{path}")
        _TEMPLATES["sqlite"] = str(path)
    return Path(_TEMPLATES["sqlite"])


def _pg_template(server: object) -> str:
    """A database migrated once on `server`, the template the tests' databases are made from
    (CREATE DATABASE ... TEMPLATE copies its files: much quicker than migrating each)."""
    if server not in _TEMPLATES:
        from agent.store.migrate import migrate

        url = server.create_database()  # type: ignore[attr-defined]
        migrate(url)  # NullPool: no connection stays open, as a template needs
        _TEMPLATES[server] = url.rsplit("/", 1)[1]
    return _TEMPLATES[server]


def _admin(server: object) -> Any:
    import psycopg

    return psycopg.connect(server.url(), autocommit=True)  # type: ignore[attr-defined]


def _drop(server: object, name: str) -> None:
    """Drop a test's database, closing what it left open (engines live in module fixtures)."""
    import psycopg

    with contextlib.suppress(psycopg.Error), _admin(server) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
