"""Events in the database: what the insights job noticed, one row per thing a parent should see.

Each event carries a `dedupe_key` (unique): detectors give the same key to every sighting of the
same thing (one OmeTV alert per child per hour, one late night per child per night), so
recording is idempotent and a parent sees one event, not a thousand rows. Times are stored as
unix seconds and come back as timezone-aware UTC datetimes; `details` is a JSON object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Index, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel

from agent.events import Event, EventKind, Severity
from agent.events.model import ALERTING
from agent.store.dialect import write_transaction

DEFAULT_LIMIT = 200
# Alerts and anything above them (urgent): what the badge counts and alert emails carry.
ALERTING_SQL = "severity IN (" + ", ".join(f"'{s}'" for s in ALERTING) + ")"


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    # (child, time) serves "Sam's week"; time alone serves "everything since" and pruning.
    __table_args__ = (Index("ix_events_child_time", "child", "time"),)

    id: int | None = Field(default=None, primary_key=True)
    time: float = Field(index=True)  # unix seconds
    kind: str
    severity: str
    child: str | None = None
    device: str | None = None  # MAC, else IP address
    app: str | None = None  # catalogue app id
    details: str = "{}"  # JSON object
    dedupe_key: str = Field(unique=True)
    acknowledged: bool = False
    acknowledged_at: float | None = None


class KeyedEvent(NamedTuple):
    """An event with the key that makes a repeat sighting a duplicate."""

    event: Event
    key: str


Target = Engine | Connection | Session
_COLUMNS = "id, time, kind, severity, child, device, app, details, acknowledged"
_INSERT = text(
    "INSERT INTO events (time, kind, severity, child, device, app, details, dedupe_key, "
    "acknowledged) VALUES (:time, :kind, :severity, :child, :device, :app, :details, :key, FALSE) "
    "ON CONFLICT (dedupe_key) DO NOTHING"
)


def timestamp(moment: datetime) -> float:
    """Unix seconds; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def default_key(event: Event) -> str:
    return f"{event.kind}:{event.child}:{event.device}:{event.app}:{int(timestamp(event.time))}"


def record_events(target: Target, events: Iterable[Event | KeyedEvent]) -> int:
    """Store events, skipping any whose dedupe key is already there; returns how many were new.

    `target` is an engine (its own transaction), or a connection or session whose transaction
    the caller commits (so the insights job stores events with its cursor move)."""
    params = [_params(item) for item in events]
    if not params:
        return 0
    if isinstance(target, Engine):
        with target.begin() as conn:
            return _insert(conn, params)
    conn = target.connection() if isinstance(target, Session) else target
    return _insert(conn, params)


def add_to_details(engine: Engine, key: str, field: str, more: int) -> bool:
    """Add `more` to the number `field` in the details of the event stored under dedupe `key`
    (a day's flood alert grows with each run that skips more addresses). False if none."""
    with write_transaction(engine) as conn:
        row = conn.execute(
            text("SELECT id, details FROM events WHERE dedupe_key = :key"), {"key": key}
        ).first()
        if row is None:
            return False
        details = json.loads(row.details or "{}")
        details[field] = int(details.get(field, 0)) + more
        conn.execute(
            text("UPDATE events SET details = :details WHERE id = :id"),
            {"details": json.dumps(details, sort_keys=True, default=str), "id": row.id},
        )
    return True


def _insert(conn: Connection, params: list[dict[str, Any]]) -> int:
    # One statement per event: a single row's rowcount says exactly whether ON CONFLICT DO
    # NOTHING skipped it, on every database (executemany's total is not reliable); a batch
    # holds a handful of events.
    return sum(conn.execute(_INSERT, p).rowcount for p in params)


def _params(item: Event | KeyedEvent) -> dict[str, Any]:
    event, key = (item.event, item.key) if isinstance(item, KeyedEvent) else (item, None)
    return {
        "time": timestamp(event.time),
        "kind": str(event.kind),
        "severity": str(event.severity),
        "child": event.child,
        "device": event.device,
        "app": event.app,
        "details": json.dumps(event.details, sort_keys=True, default=str),
        "key": key or default_key(event),
    }


def events_between(
    engine: Engine,
    child: str | None,
    start: datetime,
    end: datetime,
    kinds: Sequence[EventKind | str] | None = None,
) -> list[Event]:
    """Events from `start` (inclusive) to `end` (exclusive), oldest first; `child=None` means
    every child (and the household-wide events such as new devices)."""
    where, params = ["time >= :start", "time < :end"], {"start": timestamp(start)}
    params["end"] = timestamp(end)
    if child is not None:
        where.append("child = :child")
        params["child"] = child
    if kinds:
        names = [str(k) for k in kinds]
        where.append("kind IN (" + ", ".join(f":k{i}" for i in range(len(names))) + ")")
        params.update({f"k{i}": k for i, k in enumerate(names)})
    sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} ORDER BY time, id"
    return _select(engine, sql, params)


def list_events(
    engine: Engine,
    child: str | None = None,
    since: datetime | None = None,
    limit: int = DEFAULT_LIMIT,
    *,
    offset: int = 0,
    severities: Sequence[Severity | str] | None = None,
) -> list[Event]:
    """The newest events (up to `limit`, after skipping `offset`), newest first; only those
    of `severities` when given."""
    where, params = ["1 = 1"], {"limit": int(limit), "offset": max(int(offset), 0)}
    if child is not None:
        where.append("child = :child")
        params["child"] = child
    if severities:
        names = [f":sev{i}" for i in range(len(severities))]
        where.append(f"severity IN ({', '.join(names)})")
        params.update({f"sev{i}": str(s) for i, s in enumerate(severities)})
    if since is not None:
        where.append("time >= :since")
        params["since"] = timestamp(since)
    sql = f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} "
    return _select(engine, sql + "ORDER BY time DESC, id DESC LIMIT :limit OFFSET :offset", params)


def acknowledge(engine: Engine, event_id: int, when: datetime) -> bool:
    """Mark an event as seen by a parent; False if there is no such event."""
    with engine.begin() as conn:
        done = conn.execute(
            text("UPDATE events SET acknowledged = TRUE, acknowledged_at = :at WHERE id = :id"),
            {"at": timestamp(when), "id": event_id},
        )
        return bool(done.rowcount)


def unacknowledged_alerts(engine: Engine) -> list[Event]:
    """Alerts (urgent ones included) no parent has acknowledged yet, oldest first."""
    sql = f"SELECT {_COLUMNS} FROM events WHERE {ALERTING_SQL} AND acknowledged = FALSE "
    return _select(engine, sql + "ORDER BY time, id", {})


def count_unacknowledged_alerts(engine: Engine) -> int:
    """How many alerts no parent has acknowledged (the dashboard's badge): a count, not rows."""
    with engine.connect() as conn:
        sql = f"SELECT count(*) FROM events WHERE {ALERTING_SQL} AND acknowledged = FALSE"
        return int(conn.execute(text(sql)).scalar_one())


def events_for_export(engine: Engine, child: str) -> list[dict[str, Any]]:
    """A child's events as plain JSON-ready dicts, oldest first."""
    out = []
    for e in _select(
        engine, f"SELECT {_COLUMNS} FROM events WHERE child = :c ORDER BY time, id", {"c": child}
    ):
        out.append(event_json(e))
    return out


def event_json(event: Event) -> dict[str, Any]:
    """The JSON shape of an event (the CLI's `--json` and the export use it)."""
    return {
        "id": event.id,
        "time": event.time.isoformat(),
        "kind": str(event.kind),
        "severity": str(event.severity),
        "child": event.child,
        "device": event.device,
        "app": event.app,
        "details": event.details,
        "acknowledged": event.acknowledged,
    }


def forget_child(engine: Engine, child: str) -> int:
    """Delete every event about `child`; returns how many."""
    with engine.begin() as conn:
        return conn.execute(text("DELETE FROM events WHERE child = :c"), {"c": child}).rowcount


def prune_events(engine: Engine, before: datetime) -> int:
    """Delete events older than `before`; returns how many."""
    with engine.begin() as conn:
        done = conn.execute(text("DELETE FROM events WHERE time < :t"), {"t": timestamp(before)})
        return done.rowcount


def has_events(engine: Engine, child: str) -> bool:
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM events WHERE child = :c LIMIT 1"), {"c": child})
        return found.first() is not None


def _select(engine: Engine, sql: str, params: dict[str, Any]) -> list[Event]:
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    return [_event(r) for r in rows]


def _event(r: Any) -> Event:
    return Event(
        time=datetime.fromtimestamp(r.time, UTC),
        kind=EventKind(r.kind),
        severity=Severity(r.severity),
        child=r.child,
        device=r.device,
        app=r.app,
        details=json.loads(r.details or "{}"),
        id=r.id,
        acknowledged=bool(r.acknowledged),
    )
