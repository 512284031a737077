"""Where the query-log writer puts its batches: a SQLite file or a PostgreSQL database.

Each sink writes one batch in one transaction and says, just before committing it, which row
is the batch's last (`announce`), so whoever outlives a killed writer can look that row up
(`batch_landed`) and tell whether the batch reached the database. A row the database refuses
for its content is rejected alone and the rest of its batch is written; any other error is
the database being away (locked, full, stopped), and the whole batch is kept and tried again.

psycopg is imported only for a PostgreSQL target: the SQLite writer process stays small.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from agent.store import urls
from agent.store.logbatch import Batch
from agent.store.sqlite import connect

# The columns of `QueryLogRow` minus id, in order (`agent.store.logwriter.LogEntry`'s fields).
COLUMNS = "ts client device child name qtype action rule reason category app upstream"
COLUMNS += " latency_ms cached"
log_fields = tuple(COLUMNS.split())
_COLUMNS = ", ".join(log_fields)
_INSERT = f"INSERT INTO query_log ({_COLUMNS}) VALUES ({', '.join('?' * len(log_fields))})"
_PG_INSERT = f"INSERT INTO query_log ({_COLUMNS}) VALUES ({', '.join(['%s'] * len(log_fields))})"
_PG_COPY = f"COPY query_log ({_COLUMNS}) FROM STDIN"
# Two boxes write one query_log. A row's id is taken at insert but seen at commit, and the
# insights job reads by id (`id >` the last it read): a batch committing after a later-numbered
# one would be passed over for good. So each batch takes the table's turn, an advisory lock
# held until its commit: ids become visible in the order they were given. (One box's batches
# come one at a time anyway; the wait is only ever for the other box's commit.)
QUERY_LOG_TURN = 0x48525F514C  # "HR_QL"
_PG_TURN = f"SELECT pg_advisory_xact_lock({QUERY_LOG_TURN})"
# The writer creates its table itself, so logging works even if it starts before init_db. The
# statements are written out here (this process has no SQLAlchemy); a test holds them equal to
# what the model (`agent.store.querylog.QueryLogRow`) generates, so there is one schema.
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS query_log ("
    "id INTEGER NOT NULL, ts FLOAT NOT NULL, client VARCHAR NOT NULL, device VARCHAR, "
    "child VARCHAR, name VARCHAR NOT NULL, qtype VARCHAR NOT NULL, action VARCHAR NOT NULL, "
    "rule VARCHAR NOT NULL, reason VARCHAR NOT NULL, category VARCHAR, app VARCHAR, "
    "upstream VARCHAR, latency_ms FLOAT, cached BOOLEAN NOT NULL, PRIMARY KEY (id))",
    "CREATE INDEX IF NOT EXISTS ix_query_log_child_ts ON query_log (child, ts)",
    "CREATE INDEX IF NOT EXISTS ix_query_log_ts ON query_log (ts)",
]
# The same on PostgreSQL, where the model's integer key is a SERIAL (what Alembic makes).
PG_SCHEMA = [SCHEMA[0].replace("id INTEGER NOT NULL", "id SERIAL NOT NULL"), *SCHEMA[1:]]
_ROW_ERRORS = (sqlite3.InterfaceError, sqlite3.IntegrityError, sqlite3.ProgrammingError)
_ROW_ERRORS += (sqlite3.DataError, TypeError, ValueError, OverflowError)
Announce = Callable[[tuple, int], None]  # (the batch's last row: id, ts, name; rows rejected)
# A batch: unpacked while it is written (`agent.store.logbatch`), or rows in a list
Rows = Batch | list[tuple]


def is_postgres(target: str | Path) -> bool:
    return urls.is_postgres(str(target))


def shown(target: str | Path) -> str:
    """The target as a log line may show it: a URL without its password."""
    return urls.shown(str(target))


def open_sink(target: str | Path, busy_timeout: float) -> SqliteSink | PgSink:
    if is_postgres(target):
        return PgSink(str(target))
    return SqliteSink(Path(str(target).removeprefix("sqlite:///")), busy_timeout)


def _open_writer_connection(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = connect(path, busy_timeout_ms=int(busy_timeout * 1000))
    try:
        for statement in SCHEMA:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteSink:
    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path, self.busy_timeout = path, busy_timeout
        self._conn: sqlite3.Connection | None = None

    def write(self, batch: Rows, announce: Announce | None) -> tuple[int, str]:
        """Insert a batch in one transaction: (rows rejected, an example of why)."""
        conn = self._conn or _open_writer_connection(self.path, self.busy_timeout)
        self._conn = conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # executemany binds row after row in C: twice as fast as one statement over
                # json_each, and this process has no DNS thread to hand the GIL to.
                conn.executemany(_INSERT, batch)
                rejected, example = 0, ""
            except _ROW_ERRORS:
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                rejected, example = self._one_by_one(conn, batch)
            if announce is not None:
                last = conn.execute("SELECT id, ts, name FROM query_log ORDER BY id DESC LIMIT 1")
                announce(last.fetchone() or (0, 0.0, ""), rejected)
            conn.execute("COMMIT")
            return rejected, example
        except BaseException:
            self.close()  # reopen next time: a connection opened read-only stays read-only
            raise

    @staticmethod
    def _one_by_one(conn: sqlite3.Connection, batch: Rows) -> tuple[int, str]:
        rejected, example = 0, ""
        for row in batch:
            try:
                conn.execute(_INSERT, row)
            except _ROW_ERRORS as exc:
                rejected, example = rejected + 1, f"{exc} in {row!r:.200}"
        return rejected, example

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()


def _pg_row_error(exc: BaseException) -> bool:
    """A row's content, not the database: the server's data and constraint errors, or a
    value psycopg cannot send (no SQLSTATE: it never reached the server)."""
    import psycopg

    if isinstance(exc, (psycopg.DataError, psycopg.IntegrityError)):
        return True
    if isinstance(exc, (TypeError, ValueError, OverflowError)):
        return True
    return isinstance(exc, psycopg.ProgrammingError) and getattr(exc, "sqlstate", None) is None


class PgSink:
    def __init__(self, url: str) -> None:
        self.url = urls.libpq_url(url)
        self._conn: Any = None

    def _open(self) -> Any:
        import psycopg

        conn = psycopg.connect(self.url, connect_timeout=5, application_name="houserules-log")
        try:
            for statement in PG_SCHEMA:
                try:
                    conn.execute(statement)
                    conn.commit()
                except psycopg.errors.UniqueViolation:  # another box made it at the same time
                    conn.rollback()
        except BaseException:
            conn.close()
            raise
        return conn

    def write(self, batch: Rows, announce: Announce | None) -> tuple[int, str]:
        conn = self._conn or self._open()
        self._conn = conn
        try:
            conn.execute(_PG_TURN)
            try:
                with conn.cursor() as cur, cur.copy(_PG_COPY) as copy:
                    for row in batch:
                        copy.write_row(row)
                rejected, example = 0, ""
            except Exception as exc:
                if not _pg_row_error(exc):
                    raise
                conn.rollback()
                conn.execute(_PG_TURN)
                rejected, example = self._one_by_one(conn, batch)
            if announce is not None and rejected < len(batch):
                # currval: this session's last id, whatever the other box commits meanwhile;
                # in a subquery, so it is computed once and the primary key finds the row
                # (compared row by row, a volatile function makes that a scan of the table)
                last = conn.execute(
                    "SELECT id, ts, name FROM query_log WHERE id = "
                    "(SELECT currval(pg_get_serial_sequence('query_log', 'id')))"
                ).fetchone()
                announce(last or (0, 0.0, ""), rejected)
            conn.commit()
            return rejected, example
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _one_by_one(conn: Any, batch: Rows) -> tuple[int, str]:
        rejected, example = 0, ""
        for row in batch:
            try:
                with conn.transaction():  # a savepoint: one bad row spoils nothing else
                    conn.execute(_PG_INSERT, row)
            except Exception as exc:
                if not _pg_row_error(exc):
                    raise
                rejected, example = rejected + 1, f"{exc} in {row!r:.200}"
        return rejected, example

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):
                conn.close()


def batch_landed(target: str | Path, last: tuple) -> bool | None:
    """Whether the row (id, ts, name) is in the database; None if that cannot be told."""
    last_id, ts, name = last
    try:
        if is_postgres(target):
            import psycopg

            with psycopg.connect(urls.libpq_url(str(target)), connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT ts, name FROM query_log WHERE id = %s", (last_id,)
                ).fetchone()
        else:
            conn = sqlite3.connect(str(target).removeprefix("sqlite:///"), timeout=5.0)
            try:
                row = conn.execute(
                    "SELECT ts, name FROM query_log WHERE id = ?", (last_id,)
                ).fetchone()
            finally:
                conn.close()
    except Exception:
        return None
    return row is not None and tuple(row) == (ts, name)
