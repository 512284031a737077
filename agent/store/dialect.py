"""The few places where SQLite and PostgreSQL need different SQL, in one module.

Everything else in the store is written once: `ON CONFLICT (...) DO UPDATE/NOTHING` (both have
it), `TRUE`/`FALSE` for booleans, SQLAlchemy's `is_not_distinct_from` for a NULL-safe equal.
What cannot be written once is here, chosen by the connection's dialect:

- the smaller/larger of two values: SQLite's two-argument `min`/`max` (NULL if either is
  NULL), PostgreSQL's `least`/`greatest` (which skip NULLs);
- a write transaction that waits for the writer's lock up front: SQLite's `BEGIN IMMEDIATE`;
  on PostgreSQL the same one-writer-at-a-time turn as an advisory lock held until commit (two
  boxes' jobs processes overlapping in a handover must not both read a cursor and then both
  move it);
- the error for a table that is not there yet (`NO_TABLE_YET`);
- SQL run through the driver itself (many rows at once, no SQLAlchemy rows): sqlite3 takes
  `?` marks, psycopg `%s`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import OperationalError, ProgrammingError

# A table that is not there yet (a database not migrated that far): SQLite says "no such
# table" (OperationalError), PostgreSQL UndefinedTable (ProgrammingError).
NO_TABLE_YET = (OperationalError, ProgrammingError)


# PostgreSQL advisory lock keys (any 64-bit numbers, the same on every box): the household's
# write transactions (as SQLite's one writer), and migrations (two boxes upgrading at once).
# The query log's own turn is `agent.store.logsink.QUERY_LOG_TURN`.
HOUSEHOLD_WRITE_TURN = 0x48525F5754  # "HR_WT"
MIGRATION_TURN = 0x48525F4D47  # "HR_MG"


def is_sqlite(bind: Engine | Connection) -> bool:
    return bind.dialect.name == "sqlite"


def smaller(bind: Engine | Connection, a: str, b: str) -> str:
    """SQL for the smaller of two non-NULL expressions."""
    return f"{'min' if is_sqlite(bind) else 'least'}({a}, {b})"


def larger(bind: Engine | Connection, a: str, b: str) -> str:
    """SQL for the larger of two non-NULL expressions."""
    return f"{'max' if is_sqlite(bind) else 'greatest'}({a}, {b})"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes, committed at the end (rolled back on an error).

    On SQLite it takes the write lock at the start (BEGIN IMMEDIATE): a deferred transaction
    that reads first and writes later fails outright if the query-log writer committed in
    between; taking the lock first makes it wait (busy_timeout) instead."""
    with engine.connect() as conn:
        if is_sqlite(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.begin()
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({HOUSEHOLD_WRITE_TURN})")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def _marks(conn: Connection, sql: str) -> str:
    return sql if is_sqlite(conn) else sql.replace("?", "%s")


def driver_sql(conn: Connection, sql: str, params: Sequence[Any]) -> CursorResult[Any]:
    """Run `sql` (parameters marked `?`) straight through the driver: one tuple, or a list of
    them for many rows at once (the insights job's batches)."""
    return conn.exec_driver_sql(_marks(conn, sql), params)  # type: ignore[arg-type]


def driver_rows(conn: Connection, sql: str, params: Sequence[Any]) -> Iterator[tuple]:
    """Rows as plain tuples straight from the driver; `sql` marks its parameters with `?`."""
    sql = _marks(conn, sql)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, tuple(params))
        yield from cursor
    finally:
        cursor.close()
