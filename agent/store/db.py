"""Opening the database: one engine, the same SQLite settings on every connection, clear errors.

Everything that talks SQL lives under `agent.store`. The engine (SQLAlchemy/SQLModel) serves the
dashboard, digests and jobs; the query log writer uses a plain `sqlite3` connection from
`connect()` for speed. Both get the settings from `apply_pragmas`, so every reader and writer
agrees on WAL mode and on how long to wait for a lock.
"""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, create_engine

from agent.private import private_file, private_folder
from agent.store.sqlite import (  # noqa: F401  (re-exported: the store's one place to import)
    BUSY_TIMEOUT_MS,
    JOURNAL_SIZE_LIMIT_BYTES,
    WAL_AUTOCHECKPOINT_PAGES,
    StoreError,
    apply_pragmas,
    connect,
    explain,
)
from agent.store.urls import is_postgres, libpq_url, shown, sqlalchemy_url  # noqa: F401

# Modules that define tables on SQLModel.metadata. Ones not written yet are skipped, so each
# area can add its module (and its name here) without touching the others.
TABLE_MODULES = (
    "agent.store.querylog",
    "agent.store.household",
    "agent.store.events",
    "agent.store.rollups",
    "agent.store.insight_state",
    "agent.store.carers",
    "agent.store.digest",
    "agent.store.accounts",
    "agent.store.requests",
    "agent.store.talk",
    "agent.store.contacts",
    "agent.store.budgets",
    "agent.store.api_tokens",
    "agent.store.lease",
)


# SQLite connections kept open between uses, and opened beyond them while threads are busy at
# once (SQLAlchemy's defaults are 5 and 10). Each keeps its own page cache and statements; the
# jobs process rarely has more than two in use at once, and opening one takes a millisecond.
IDLE_CONNECTIONS = 2
BUSY_CONNECTIONS = 13


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory or non-SQLite database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_engine(url: str) -> Engine:
    """An engine for `url`, checked by opening it once, so mistakes show at start-up.

    Raises `StoreError` if the database cannot be opened or created.
    """
    path = sqlite_file(url)
    if path is not None:
        try:
            private_folder(path.parent)
        except OSError as exc:
            raise StoreError(str(path), f"its folder cannot be created: {explain(exc)}") from exc
        if not path.exists():
            try:
                private_file(path)  # SQLite would make it with the umask's mode
            except OSError as exc:
                raise StoreError(str(path), f"it cannot be created: {explain(exc)}") from exc
    url = sqlalchemy_url(url)
    if is_postgres(url):
        # A PostgreSQL on another box can restart under us: test a pooled connection before use.
        engine = create_engine(url, pool_pre_ping=True)
    elif path is not None:
        engine = create_engine(url, pool_size=IDLE_CONNECTIONS, max_overflow=BUSY_CONNECTIONS)
    else:
        engine = create_engine(url)
    if make_url(url).get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_connect)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master" if path is not None else "SELECT 1"
            )
    except (DBAPIError, sqlite3.Error, OSError) as exc:
        engine.dispose()
        # str() of a URL masks any password.
        raise StoreError(str(path or make_url(url)), explain(exc)) from exc
    return engine


def _on_connect(dbapi_conn: Any, _record: Any) -> None:
    apply_pragmas(dbapi_conn)


def init_db(engine: Engine) -> None:
    """Create every table that does not exist yet. Safe to run at every start."""
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the module exists but something it imports is missing
                raise
    try:
        SQLModel.metadata.create_all(engine)
    except (DBAPIError, sqlite3.Error, OSError) as exc:
        target = sqlite_file(str(engine.url)) or engine.url
        raise StoreError(str(target), explain(exc)) from exc


def postgres_problem(url: str, timeout: float = 5.0) -> tuple[str, bool] | None:
    """Ask the PostgreSQL server at `url` for a connection: None if it gives one, else (the
    cause in plain words, whether the server answered). A server that answered and refused
    (no such database, user or password) will refuse again until the config changes; one that
    did not answer may only be starting, or down for a while."""
    import psycopg

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=max(1, round(timeout))):
            return None
    except psycopg.Error as exc:
        return explain(exc), "FATAL:" in str(exc)
