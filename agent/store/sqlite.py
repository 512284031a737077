"""SQLite with nothing but the standard library: the settings every connection shares, a plain
connection, and storage errors in plain words.

The query-log writer process uses only this (it stays small: no SQLAlchemy), and `agent.store.db`
builds the engine on the same settings, so every reader and writer agrees on WAL mode and on how
long to wait for a lock.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

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
# SQLite's page cache per connection, in KiB (its default, 2,000, fills within a busy minute and
# stays). The file's pages are in the kernel's cache anyway; a connection's own copy matters
# only for the pages it touches again and again: the tails of the query log and its indexes
# for the log writer, the rollups' index pages for insights. Measured at 512: the log writer
# as fast and writing as many bytes to the WAL as at 2,000 (below 256 pages of a batch start to
# be written twice), insights as many rows per CPU second; 1.5 MB less in the log writer, 2-3
# MB less in the jobs process (a page cache per pooled connection).
PAGE_CACHE_KB = 512

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
    orig = getattr(exc, "orig", None)  # SQLAlchemy's DBAPIError wraps the driver's error
    if isinstance(orig, BaseException) and not isinstance(exc, (sqlite3.Error, OSError)):
        exc = orig
    if isinstance(exc, sqlite3.Error):
        # Extended codes ("SQLITE_IOERR_WRITE") share the words of their primary code.
        name = getattr(exc, "sqlite_errorname", "") or ""
        primary = "_".join(name.split("_")[:2])
        return _CAUSES.get(name) or _CAUSES.get(primary) or str(exc)
    if isinstance(exc, OSError):
        cause = _OS_CAUSES.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
        return f"{cause} ({exc.filename})" if exc.filename else cause
    if type(exc).__module__.startswith("psycopg"):
        return postgres_words(str(exc))
    return str(exc) or type(exc).__name__


def postgres_words(message: str) -> str:
    """psycopg's message on one line, without libpq's wrapping: 'connection failed: connection
    to server at "db", port 5432 failed: FATAL:  database "x" does not exist' says
    'database "x" does not exist (server at "db", port 5432)'."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else "PostgreSQL gave no reason"
    first = first.removeprefix("connection failed: ")
    where, sep, cause = first.rpartition(" failed: ")
    if sep:
        first = f"{cause.removeprefix('FATAL:').strip()} ({where.removeprefix('connection to ')})"
    return first


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
    conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KB}")


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
