"""What the insights job remembers between runs, in tables so a restart loses nothing.

- `insight_cursor`: the id of the last query-log row processed, and that row's time (moved in
  the same transaction as the events and rollups it produced, so a crash never double-counts
  or loses a row). The time tells whether the id still means that row: query-log ids start
  again from 1 once the table is empty (deleted by hand, or pruned empty on a box that was off
  longer than `retention_days`), and a cursor past them would skip every new row;
- `insight_devices`: every device that has asked, with its last DNS time and last app or site;
- `insight_firsts`: the apps and sites each child has used (for "first use" events);
- `insight_sessions`: video-chat sessions still open;
- `insight_attempts`: recent blocked attempts per child and app (for "repeated attempts").

Also here: reading the query log in batches for the job (`read_rows`), and `immediate()`, the
job's write transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from agent.rules.decision import RuleRef
from agent.store.dialect import driver_rows, larger, smaller, write_transaction


class InsightCursor(SQLModel, table=True):
    __tablename__ = "insight_cursor"
    id: int = Field(default=1, primary_key=True)
    last_id: int = 0
    # Rows older than this were already in the log when the job first ran: they teach it the
    # household's history without announcing a month of "first use" events.
    quiet_before: float = 0.0
    last_ts: float = 0.0  # the time of row `last_id` (0: not known, from before it was kept)


class InsightDevice(SQLModel, table=True):
    __tablename__ = "insight_devices"
    device: str = Field(primary_key=True)  # MAC, else IP address
    client: str  # the IP address it last asked from
    child: str | None = None
    first_ts: float
    last_ts: float  # its last DNS query
    last_thing: str | None = None  # "app:discord" or "site:bbc.co.uk": what it was last on
    last_thing_ts: float | None = None


class InsightFirst(SQLModel, table=True):
    __tablename__ = "insight_firsts"
    child: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)  # "app" | "site"
    name: str = Field(primary_key=True)
    first_ts: float
    last_ts: float


class InsightSession(SQLModel, table=True):
    __tablename__ = "insight_sessions"
    device: str = Field(primary_key=True)
    target: str = Field(primary_key=True)  # "app:zoom", "site:example.com" or "webrtc"
    child: str
    via: str  # "app" | "webrtc"
    start_ts: float
    last_ts: float
    queries: int = 0


class InsightAttempts(SQLModel, table=True):
    __tablename__ = "insight_attempts"
    child: str = Field(primary_key=True)
    app: str = Field(primary_key=True)
    recent: str = ""  # the last few attempt times, comma-separated unix seconds


TABLES = ("insight_cursor", "insight_devices", "insight_firsts", "insight_sessions")
TABLES += ("insight_attempts",)


class LoggedRow(NamedTuple):
    """A query-log row as the insights job reads it: its id, then the columns of `LogEntry` (the
    one query-log row type) that insights needs, in the table's order (a test holds them so)."""

    id: int
    ts: float
    client: str
    device: str | None
    child: str | None
    name: str
    action: str
    rule: str  # the query log's text; `ref` reads it
    category: str | None
    app: str | None

    @property
    def ref(self) -> RuleRef:
        return RuleRef.from_column(self.rule)


@dataclass(frozen=True)
class Cursor:
    last_id: int
    quiet_before: float
    last_ts: float = 0.0


@dataclass
class DeviceState:
    device: str
    client: str
    child: str | None
    first_ts: float
    last_ts: float
    last_thing: str | None = None
    last_thing_ts: float | None = None


@dataclass
class SessionState:
    device: str
    target: str
    child: str
    via: str
    start_ts: float
    last_ts: float
    queries: int = 0


def immediate(engine: Engine) -> AbstractContextManager[Connection]:
    """The job's write transaction: on SQLite it takes the write lock at the start (BEGIN
    IMMEDIATE), so it waits for the query log writer instead of failing half way
    (`agent.store.dialect.write_transaction`)."""
    return write_transaction(engine)


def read_rows(engine: Engine, after_id: int, limit: int) -> list[LoggedRow]:
    """Up to `limit` query-log rows with id > `after_id`, in id order."""
    sql = f"SELECT {', '.join(LoggedRow._fields)} FROM query_log WHERE id > ? ORDER BY id LIMIT ?"
    with engine.connect() as conn:
        return list(map(LoggedRow._make, driver_rows(conn, sql, (after_id, limit))))


def load_cursor(conn: Connection) -> Cursor | None:
    row = conn.execute(
        text("SELECT last_id, quiet_before, last_ts FROM insight_cursor WHERE id = 1")
    )
    found = row.first()
    if found is None:
        return None
    return Cursor(found.last_id, found.quiet_before, found.last_ts or 0.0)


def save_cursor(conn: Connection, cursor: Cursor) -> None:
    conn.execute(
        text(
            "INSERT INTO insight_cursor (id, last_id, quiet_before, last_ts) "
            "VALUES (1, :i, :q, :t) "
            "ON CONFLICT (id) DO UPDATE SET last_id = :i, quiet_before = :q, last_ts = :t"
        ),
        {"i": cursor.last_id, "q": cursor.quiet_before, "t": cursor.last_ts},
    )


def cursor_row_ts(engine: Engine, row_id: int) -> float | None:
    """The time of query-log row `row_id`, None if there is no such row."""
    with engine.connect() as conn:
        found = conn.execute(text("SELECT ts FROM query_log WHERE id = :i"), {"i": row_id})
        return found.scalar_one_or_none()


def newest_row_id(engine: Engine) -> int:
    """The highest query-log id (0 for an empty log)."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(id), 0) FROM query_log")).scalar_one()


def resume_point(engine: Engine, after_ts: float) -> tuple[int, float]:
    """Where to read on from when the cursor's row is gone: just before the first row newer
    than `after_ts`, else after the newest row. Returns (id, its time) for a new cursor."""
    with engine.connect() as conn:
        first = conn.execute(
            text("SELECT min(id) FROM query_log WHERE ts > :t"), {"t": after_ts}
        ).scalar_one_or_none()
        if first is not None:
            return first - 1, after_ts
        newest = conn.execute(text("SELECT id, ts FROM query_log ORDER BY id DESC LIMIT 1"))
        row = newest.first()
        return (row.id, row.ts) if row is not None else (0, 0.0)


def peek_cursor(engine: Engine) -> Cursor | None:
    with engine.connect() as conn:
        return load_cursor(conn)


# Devices -----------------------------------------------------------------------------------


# Devices asked for in one statement (SQLite allows 32,766 parameters, PostgreSQL 65,535).
DEVICES_AT_ONCE = 1_000
_SOME_DEVICES = text("SELECT * FROM insight_devices WHERE device IN :devices").bindparams(
    bindparam("devices", expanding=True)
)


def load_devices(conn: Connection, devices: Iterable[str]) -> dict[str, DeviceState]:
    """The state of these devices (those that have one). Only these: after a flood from
    forged addresses the table holds a row for each, and a batch needs its own devices."""
    wanted = sorted(set(devices))
    found: dict[str, DeviceState] = {}
    for at in range(0, len(wanted), DEVICES_AT_ONCE):
        chunk = wanted[at : at + DEVICES_AT_ONCE]
        for r in conn.execute(_SOME_DEVICES, {"devices": chunk}):
            found[r.device] = DeviceState(**r._mapping)
    return found


def save_devices(conn: Connection, devices: Iterable[DeviceState]) -> None:
    params = [vars(d) for d in devices]
    if params:
        conn.execute(
            text(
                "INSERT INTO insight_devices (device, client, child, first_ts, "
                "last_ts, last_thing, last_thing_ts) VALUES (:device, :client, :child, "
                ":first_ts, :last_ts, :last_thing, :last_thing_ts) ON CONFLICT (device) DO "
                "UPDATE SET client = excluded.client, child = excluded.child, "
                "first_ts = excluded.first_ts, last_ts = excluded.last_ts, "
                "last_thing = excluded.last_thing, last_thing_ts = excluded.last_thing_ts"
            ),
            params,
        )


# First uses --------------------------------------------------------------------------------


def known_firsts(
    conn: Connection, keys: Iterable[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """Which of these (child, kind, name) the child has used before."""
    found: set[tuple[str, str, str]] = set()
    query = text("SELECT 1 FROM insight_firsts WHERE child = :c AND kind = :k AND name = :n")
    for child, kind, name in keys:
        if conn.execute(query, {"c": child, "k": kind, "n": name}).first() is not None:
            found.add((child, kind, name))
    return found


def touch_firsts(conn: Connection, uses: dict[tuple[str, str, str], tuple[float, float]]) -> None:
    """Record uses: (child, kind, name) -> (first, last) time in this batch."""
    params = [
        {"c": c, "k": k, "n": n, "f": first, "l": last} for (c, k, n), (first, last) in uses.items()
    ]
    if params:
        conn.execute(
            text(
                "INSERT INTO insight_firsts (child, kind, name, first_ts, last_ts) "
                "VALUES (:c, :k, :n, :f, :l) ON CONFLICT (child, kind, name) DO UPDATE SET "
                f"first_ts = {smaller(conn, 'insight_firsts.first_ts', 'excluded.first_ts')}, "
                f"last_ts = {larger(conn, 'insight_firsts.last_ts', 'excluded.last_ts')}"
            ),
            params,
        )


# Sessions and attempts ---------------------------------------------------------------------


def load_sessions(conn: Connection) -> dict[tuple[str, str], SessionState]:
    rows = conn.execute(text("SELECT * FROM insight_sessions")).all()
    return {(r.device, r.target): SessionState(**r._mapping) for r in rows}


def save_sessions(conn: Connection, sessions: Iterable[SessionState]) -> None:
    """Replace the open sessions with these."""
    conn.execute(text("DELETE FROM insight_sessions"))
    params = [vars(s) for s in sessions]
    if params:
        conn.execute(
            text(
                "INSERT INTO insight_sessions (device, target, child, via, start_ts, last_ts, "
                "queries) VALUES (:device, :target, :child, :via, :start_ts, :last_ts, :queries)"
            ),
            params,
        )


def open_sessions(engine: Engine, child: str | None = None) -> list[SessionState]:
    """Video-chat sessions in progress (for a dashboard's "on a call now")."""
    with engine.connect() as conn:
        sessions = load_sessions(conn).values()
    return sorted((s for s in sessions if child in (None, s.child)), key=lambda s: s.start_ts)


def load_attempts(conn: Connection) -> dict[tuple[str, str], list[float]]:
    rows = conn.execute(text("SELECT child, app, recent FROM insight_attempts")).all()
    return {(r.child, r.app): [float(t) for t in r.recent.split(",") if t] for r in rows}


def save_attempts(conn: Connection, attempts: dict[tuple[str, str], list[float]]) -> None:
    params = [
        {"c": c, "a": a, "r": ",".join(repr(t) for t in times)}
        for (c, a), times in attempts.items()
    ]
    if params:
        conn.execute(
            text(
                "INSERT INTO insight_attempts (child, app, recent) VALUES (:c, :a, :r) "
                "ON CONFLICT (child, app) DO UPDATE SET recent = excluded.recent"
            ),
            params,
        )


# Privacy and retention ---------------------------------------------------------------------


def forget_child(conn: Connection, child: str) -> int:
    """Delete what the job remembers about `child`; returns how many rows."""
    total = 0
    for table in ("insight_firsts", "insight_sessions", "insight_attempts"):
        total += conn.execute(text(f"DELETE FROM {table} WHERE child = :c"), {"c": child}).rowcount
    conn.execute(text("UPDATE insight_devices SET child = NULL WHERE child = :c"), {"c": child})
    return total


def firsts_for_export(engine: Engine, child: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT kind, name, first_ts, last_ts FROM insight_firsts WHERE child = :c "
                "ORDER BY first_ts, kind, name"
            ),
            {"c": child},
        ).all()
    return [dict(r._mapping) for r in rows]


def prune_firsts(conn: Connection, before_ts: float) -> int:
    """Forget apps and sites not used since `before_ts` (a use after that is "first" again)."""
    return conn.execute(
        text("DELETE FROM insight_firsts WHERE last_ts < :t"), {"t": before_ts}
    ).rowcount
