"""Opening the database: one engine, the same SQLite settings on every connection, clear errors.

Everything that talks SQL lives under `agent.store`. The engine (SQLAlchemy/SQLModel) serves the
dashboard, digests and jobs; the query log writer uses a plain `sqlite3` connection from
`connect()` for speed. Both get the settings from `apply_pragmas`, so every reader and writer
agrees on WAL mode and on how long to wait for a lock.
"""

from __future__ import annotations

import errno
import importlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel, create_engine

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
)

BUSY_TIMEOUT_MS = 5_000
# The WAL file is copied back into the database ("checkpointed") once it holds this many pages
# (4 KiB each, so ~16 MiB). SD cards wear with every write and are slow to fsync: a larger WAL
# lets repeated changes to the same page (the tail of the query log and its indexes) collapse
# into one copy per checkpoint, and with synchronous=NORMAL only checkpoints fsync at all. It is
# not larger because readers scan the WAL index and a crash replays the whole WAL.
WAL_AUTOCHECKPOINT_PAGES = 4_000
# Without a limit the WAL file stays as large as its biggest burst; truncate it after a
# checkpoint so a busy evening does not keep 100 MiB of SD card allocated forever.
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024

# Plain words for SQLite's result codes, for parents reading a log or a dashboard banner.
_CAUSES = {
    "SQLITE_BUSY": "another program is holding the database locked",
    "SQLITE_LOCKED": "another program is holding the database locked",
    "SQLITE_READONLY": "the file or its folder is read-only",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_CANTOPEN": "the file cannot be opened or created (does the folder exist, "
    "and may HouseRules write to it?)",
    "SQLITE_NOTADB": "the file is not a SQLite database",
    "SQLITE_CORRUPT": "the database file is damaged",
    "SQLITE_IOERR": "the disk reported a read or write error",
    "SQLITE_PERM": "permission was denied",
    "SQLITE_AUTH": "permission was denied",
}
_OS_CAUSES = {
    errno.EACCES: "permission was denied",
    errno.EPERM: "permission was denied",
    errno.EROFS: "the disk is read-only",
    errno.ENOSPC: "the disk is full",
    errno.EEXIST: "a file is in the way where a folder should be",
    errno.ENOTDIR: "a file is in the way where a folder should be",
}


class StoreError(Exception):
    """The database cannot be used; the message names the file and the cause in plain words."""

    def __init__(self, target: str, cause: str) -> None:
        self.target, self.cause = target, cause
        super().__init__(f"Cannot use the database {target}: {cause}")


def explain(exc: BaseException) -> str:
    """The cause of a storage error in plain words (SQLAlchemy wrappers are looked through)."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    if isinstance(exc, sqlite3.Error):
        # Extended codes ("SQLITE_IOERR_WRITE") share the words of their primary code.
        name = getattr(exc, "sqlite_errorname", "") or ""
        primary = "_".join(name.split("_")[:2])
        return _CAUSES.get(name) or _CAUSES.get(primary) or str(exc)
    if isinstance(exc, OSError):
        cause = _OS_CAUSES.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
        return f"{cause} ({exc.filename})" if exc.filename else cause
    return str(exc) or type(exc).__name__


def sqlite_file(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for an in-memory or non-SQLite database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def apply_pragmas(conn: sqlite3.Connection, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
    """Per-connection settings; run on every new connection, engine or plain sqlite3."""
    # busy_timeout first, so the statements after it wait for a lock instead of failing.
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    # WAL: the dashboard reads while the query log writes; neither waits for the other.
    conn.execute("PRAGMA journal_mode = WAL")
    # NORMAL is safe in WAL mode (a power cut can lose the last commits, never corrupt) and
    # skips an fsync per commit, which SD cards make slow.
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}")


def connect(path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """A plain sqlite3 connection in autocommit mode (callers BEGIN/COMMIT themselves).

    Raises sqlite3.Error or OSError; callers turn them into `StoreError` or count them.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    try:
        apply_pragmas(conn, busy_timeout_ms)
    except BaseException:
        conn.close()
        raise
    return conn


def make_engine(url: str) -> Engine:
    """An engine for `url`, checked by opening it once, so mistakes show at start-up.

    Raises `StoreError` if the database cannot be opened or created.
    """
    path = sqlite_file(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(str(path), f"its folder cannot be created: {explain(exc)}") from exc
    engine = create_engine(url)
    if make_url(url).get_backend_name() == "sqlite":
        event.listen(engine, "connect", _on_connect)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM sqlite_master")
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
