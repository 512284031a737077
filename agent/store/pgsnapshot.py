"""The household as the DNS process reads it from PostgreSQL: plain psycopg 3, read-only, no ORM.

The SQLite reader's twin (`snapshot`): the version polled once a second is one small SELECT on
a connection kept open, and the household is read again only when it moves, whole, in one
REPEATABLE READ transaction, so the version and every table are one moment. No column is named
here either: each table is read with `SELECT *`, its key found in the catalogue. psycopg hands
dates, times and booleans back as Python's own types, so the rows need no parsing; they go
through the same `household_from` as SQLite's.

This module is imported only when `[store] url` is PostgreSQL: a SQLite box never loads the
driver. Every wait is short and off the DNS path (the ticker thread calls it): a connection
attempt gives up after `CONNECT_SECONDS`, a statement after `STATEMENT_MS`, and a connection
whose peer has vanished (the network gone, not just the server stopped) is dropped by the
kernel after `TCP_USER_TIMEOUT_MS` instead of the default quarter of an hour, and a read that
still has no answer after `READ_SECONDS` (a server that hangs while its kernel still answers
for it) is cut by a watchdog thread, which shuts the connection's socket. After a failure
the next attempt waits a little longer each time (up to `RETRY_MOST_SECONDS`), so a box whose
database is away does not spend its ticker's time on connection attempts.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import psycopg
from psycopg import sql

from agent.store.snapshot import LATE, TABLES, Rows, SnapshotUnavailable
from agent.store.urls import libpq_url, shown

CONNECT_SECONDS = 2  # libpq's least useful value
STATEMENT_MS = 3000
TCP_USER_TIMEOUT_MS = 3000
RETRY_MOST_SECONDS = 5.0
READ_SECONDS = 5.0  # the longest a read may take before the watchdog cuts its connection
APPLICATION_NAME = "houserules-dns"

# The primary key of each household table that exists (by its name), from the catalogue.
KEYS_SQL = """
SELECT c.relname, a.attname
FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
WHERE i.indisprimary AND c.relname = ANY(%s) AND pg_table_is_visible(c.oid)
ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)
"""
VERSION_SQL = "SELECT version FROM household_meta WHERE id = 1"


class PgSnapshot:
    """One DNS process's reader: one connection, opened when first needed and again after a
    failure. Called from one thread (the ticker); `read_version` and `read_rows` take the URL
    to match the SQLite reader's functions (`HouseholdFollower` calls either)."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = libpq_url(url)
        self.clock = clock
        self.conn: psycopg.Connection | None = None
        self.failures = 0
        self.next_try = 0.0
        self.where = shown(url)
        self.problem = ""
        self.database_id: str | None = None  # which database this is (`database_id`)
        self.busy: tuple[psycopg.Connection, float] | None = None  # a read and its deadline
        self.cuts = 0  # reads the watchdog cut
        self._watchdog: threading.Thread | None = None
        self._stopped = threading.Event()

    def read_version(self, _url: str = "") -> int:
        """The household version; 0 before the first change."""

        def version(conn: psycopg.Connection) -> int:
            row = conn.execute(VERSION_SQL).fetchone()
            return row[0] if row else 0

        return self._with_connection(version)

    def read_rows(self, _url: str = "") -> Rows:
        """Every household table in one REPEATABLE READ transaction, the version first."""

        def rows(conn: psycopg.Connection) -> Rows:
            with conn.transaction():
                row = conn.execute(VERSION_SQL).fetchone()
                keys = _keys(conn)
                tables = {name: _read_table(conn, name, keys.get(name)) for name in TABLES}
            return Rows(row[0] if row else 0, tables)

        return self._with_connection(rows)

    def close(self) -> None:
        """The connection closed and the watchdog stopped (a new read starts both again)."""
        self._drop()
        if self._watchdog is not None:
            self._stopped.set()
            self._watchdog.join(5)
            self._watchdog = None

    def _drop(self) -> None:
        if self.conn is not None:
            conn, self.conn = self.conn, None
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def _with_connection(self, work: Callable[[psycopg.Connection], Any]) -> Any:
        try:
            conn = self._connection()
            self.busy = (conn, time.monotonic() + READ_SECONDS)
            try:
                result = work(conn)
            finally:
                self.busy = None
        except psycopg.Error as exc:
            self._drop()
            self._failed()
            self.problem = f"{self.where}: {_first_line(exc)}"
            raise SnapshotUnavailable(self.problem) from exc
        self.failures = 0
        return result

    def _connection(self) -> psycopg.Connection:
        if self.conn is not None and not self.conn.closed:
            return self.conn
        if self.clock() < self.next_try:  # the same words as the failure: said once
            raise SnapshotUnavailable(self.problem)
        conn = psycopg.connect(
            self.url,
            autocommit=True,  # the version poll is one statement, no transaction left open
            connect_timeout=CONNECT_SECONDS,
            application_name=APPLICATION_NAME,
            options=f"-c statement_timeout={STATEMENT_MS}",
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
            tcp_user_timeout=TCP_USER_TIMEOUT_MS,
        )
        row = conn.execute(IDENTITY_SQL).fetchone()
        self.database_id = database_id(row[0], row[1]) if row else None
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        self.conn = conn
        if self._watchdog is None:
            self._stopped.clear()
            self._watchdog = threading.Thread(target=self._watch, name="household-db", daemon=True)
            self._watchdog.start()
        return conn

    def _watch(self) -> None:
        """Cut a read that has waited too long: its blocked wait then ends with an error."""
        while not self._stopped.wait(1.0):
            busy = self.busy
            if busy is not None and time.monotonic() > busy[1] and busy is self.busy:
                self.cuts += 1
                with contextlib.suppress(OSError, psycopg.Error):
                    fd = busy[0].pgconn.socket
                    with socket.socket(fileno=os.dup(fd)) as cut:
                        cut.shutdown(socket.SHUT_RDWR)

    def _failed(self) -> None:
        self.failures += 1
        self.next_try = self.clock() + min(RETRY_MOST_SECONDS, 0.5 * 2 ** (self.failures - 1))


# Which database, whatever address a box reaches it by: the server's own identifier (made by
# initdb, readable by any role) and the database's name. Two boxes that say the same share
# one household; the doctor compares them (agent/ops/peers.py).
IDENTITY_SQL = "SELECT system_identifier::text, current_database() FROM pg_control_system()"


def database_id(system_identifier: str, name: str) -> str:
    """A short name for one database on one server, the same from every box."""
    return hashlib.sha256(f"{system_identifier}/{name}".encode()).hexdigest()[:12]


def _keys(conn: psycopg.Connection) -> dict[str, list[str]]:
    keys: dict[str, list[str]] = {}
    for table, column in conn.execute(KEYS_SQL, (list(TABLES),)):
        keys.setdefault(table, []).append(column)
    return keys


def _read_table(conn: psycopg.Connection, table: str, key: list[str] | None) -> list[Any]:
    """Every row of a household table, in key order, one attribute per column."""
    if key is None:
        if table in LATE:
            return []  # a later migration adds it: read as empty, as SQLite's reader does
        raise SnapshotUnavailable(f"the table {table} is missing: the database is not migrated")
    order = sql.SQL(", ").join(sql.Identifier(c) for c in key)
    query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier(table), order)
    cursor = conn.execute(query)
    names = [d.name for d in cursor.description or ()]
    return [SimpleNamespace(**dict(zip(names, values, strict=True))) for values in cursor]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
