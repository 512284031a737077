"""The query log's table and what reads it: the SQLModel table (`QueryLogRow`), pruning, a
child's rows (export and forgetting), and the small readers the jobs process and the commands
use. Every statement about the query log is plain SQL with `?` parameters, as its writer's: on a
SQLite file through plain sqlite3 (fast, and no lock held longer than a statement), on
PostgreSQL through the engine's driver (`agent.store.dialect`).

Writing is `agent.store.logwriter` (the writer process imports only that, to stay small);
`LogEntry` and `QueryLogWriter` are imported here too, where callers have always found them.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import Index
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import Field, SQLModel

from agent.store.db import StoreError, connect, explain, sqlite_file
from agent.store.dialect import driver_rows, driver_sql, is_sqlite
from agent.store.logwriter import (  # noqa: F401  (re-exported: where callers import them)
    _COLUMNS,
    _INSERT,
    LogEntry,
    QueryLogWriter,
    _open_writer_connection,
)

log = logging.getLogger(__name__)


class QueryLogRow(SQLModel, table=True):
    __tablename__ = "query_log"
    # (child, ts) serves "what did Sam look up on Tuesday"; ts alone serves pruning and "today".
    __table_args__ = (Index("ix_query_log_child_ts", "child", "ts"),)

    id: int | None = Field(default=None, primary_key=True)
    ts: float = Field(index=True)  # unix seconds
    client: str  # the asking IP address
    device: str | None = None  # device id or MAC, when known
    child: str | None = None
    name: str
    qtype: str  # "A", "AAAA", "HTTPS", ...
    action: str  # "allow" | "block" | "rewrite" | "refuse" (rule "flood": over the rate limit)
    rule: str = ""  # machine-readable: "list:bypass", "schedule:Bedtime", ...
    reason: str = ""  # a sentence a parent can read
    category: str | None = None
    app: str | None = None
    upstream: str | None = None  # "ip:port" that answered
    latency_ms: float | None = None
    cached: bool = False


def model_schema() -> list[str]:
    """The DDL the model generates: `agent.store.logwriter.SCHEMA` must say the same."""
    table = QueryLogRow.__table__
    dialect = sqlite_dialect.dialect()
    statements = [str(CreateTable(table, if_not_exists=True).compile(dialect=dialect))]
    statements += [
        str(CreateIndex(ix, if_not_exists=True).compile(dialect=dialect))
        for ix in sorted(table.indexes, key=lambda ix: str(ix.name))  # type: ignore[attr-defined]
    ]
    return statements


def prune_query_log(
    target: Engine | Path, before_ts: float, chunk: int = 50_000, pause: float = 0.05
) -> int:
    """Delete rows older than `before_ts` in chunks; returns how many were deleted.

    Each chunk is its own short transaction, and `pause` seconds between chunks let the query
    log writer take the lock, so pruning a month never holds up logging.
    """
    sql = "DELETE FROM query_log WHERE id IN (SELECT id FROM query_log WHERE ts < ? LIMIT ?)"
    return _delete_in_chunks(target, sql, (before_ts, chunk), chunk, pause)


# Every column but the child (the export is about them) and the upstream's latency (about the
# box, not the child), in the one row type's order.
EXPORT_COLUMNS = tuple(f for f in LogEntry._fields if f not in ("child", "latency_ms"))


def child_rows(target: Engine | Path, child: str) -> list[dict[str, object]]:
    """Every row about `child`, oldest first, as plain data (a parent's export)."""
    sql = f"SELECT {', '.join(EXPORT_COLUMNS)} FROM query_log WHERE child = ? ORDER BY ts, id"
    rows = _read(_path(target), sql, (child,))
    return [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in rows]


def has_child_rows(target: Engine | Path, child: str) -> bool:
    return bool(_read(_path(target), "SELECT 1 FROM query_log WHERE child = ? LIMIT 1", (child,)))


def forget_child_rows(
    target: Engine | Path, child: str, chunk: int = 20_000, pause: float = 0.02
) -> int:
    """Delete every row about `child`, in chunks like pruning; returns how many."""
    sql = "DELETE FROM query_log WHERE id IN (SELECT id FROM query_log WHERE child = ? LIMIT ?)"
    return _delete_in_chunks(target, sql, (child, chunk), chunk, pause)


def _delete_in_chunks(
    target: Engine | Path, sql: str, params: tuple[object, ...], chunk: int, pause: float
) -> int:
    path = _path(target)
    total = 0
    if isinstance(path, Engine):
        try:
            while True:
                with path.begin() as conn:  # each chunk its own transaction
                    deleted = driver_sql(conn, sql, params).rowcount
                total += deleted
                if deleted < chunk:
                    return total
                time.sleep(pause)
        except DBAPIError as exc:
            raise StoreError(str(path.url), explain(exc)) from exc
    try:
        with closing(connect(path)) as conn:  # autocommit: each chunk its own transaction
            while True:
                deleted = conn.execute(sql, params).rowcount
                total += deleted
                if deleted < chunk:
                    return total
                time.sleep(pause)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(str(path), explain(exc)) from exc


def _path(target: Engine | Path) -> Path | Engine:
    """The query log's SQLite file (read with plain sqlite3, as its writer writes it), or the
    engine of a database that is not SQLite (PostgreSQL)."""
    if isinstance(target, Path):
        return target
    if not is_sqlite(target):
        return target
    path = sqlite_file(str(target.url))
    if path is None:
        raise StoreError(str(target.url), "the query log needs a SQLite database file")
    return path


def count_rows(target: Engine | Path) -> int:
    """How many rows the query log holds."""
    return _read(_path(target), "SELECT count(*) FROM query_log", ())[0][0]


def recent(target: Engine | Path, limit: int = 100) -> list[LogEntry]:
    """The newest rows, newest first."""
    rows = _read(
        _path(target), f"SELECT {_COLUMNS} FROM query_log ORDER BY id DESC LIMIT ?", (limit,)
    )
    return [LogEntry(*row[:-1], cached=bool(row[-1])) for row in rows]


def recent_of_type(
    target: Engine | Path, child: str, qtype: str, limit: int = 20
) -> list[LogEntry]:
    """A child's newest rows of one `qtype` (the proxy's "SEARCH" rows), newest first."""
    sql = (
        f"SELECT {_COLUMNS} FROM query_log WHERE child = ? AND qtype = ? "
        "ORDER BY ts DESC, id DESC LIMIT ?"
    )
    rows = _read(_path(target), sql, (child, qtype, int(limit)))
    return [LogEntry(*row[:-1], cached=bool(row[-1])) for row in rows]


def _read(path: Path | Engine, sql: str, params: tuple[object, ...]) -> list[tuple]:
    if isinstance(path, Engine):
        try:
            with path.connect() as conn:
                return list(driver_rows(conn, sql, params))
        except DBAPIError as exc:
            raise StoreError(str(path.url), explain(exc)) from exc
    try:
        with closing(connect(path)) as conn:
            return conn.execute(sql, params).fetchall()
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(str(path), explain(exc)) from exc


def clients_since(
    target: Engine | Path, after_id: int
) -> tuple[dict[str, tuple[str | None, float]], int]:
    """Who has asked since row `after_id`: client IP -> (MAC or None, last time), and the
    newest row id (the next call's `after_id`). Feeds the devices-seen table."""
    rows = _read(
        _path(target),
        "SELECT client, max(device), max(ts), max(id) FROM query_log WHERE id > ? GROUP BY client",
        (after_id,),
    )
    seen = {client: (mac, ts) for client, mac, ts, _ in rows}
    return seen, max((r[3] for r in rows), default=after_id)


def newest_id(target: Engine | Path) -> int:
    return _read(_path(target), "SELECT coalesce(max(id), 0) FROM query_log", ())[0][0]
