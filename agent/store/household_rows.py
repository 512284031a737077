"""From stored household rows to the snapshot's dataclasses, with no database library.

Shared by the SQLModel store (`household_tables`) and the plain-sqlite3 reader the DNS process
uses (`snapshot`): one conversion, so both see the same household.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any

from agent.rules.household import (
    Budget,
    Child,
    ChildSettings,
    Device,
    Overlay,
    Pause,
    RuleEntry,
    Schedule,
)


def utc(moment: datetime | None) -> datetime | None:
    """A stored moment as timezone-aware UTC (older rows may come back naive)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def joined(values: Iterable[Any]) -> str:
    return ",".join(str(v) for v in sorted(set(values)))


def words(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.split(",") if part)


def to_child(row: Any) -> Child:
    settings = ChildSettings(row.protections_on, row.youtube_level, row.safe_search)
    return Child(row.id or 0, row.name, row.born, settings)


def to_device(row: Any) -> Device:
    shared = frozenset(int(i) for i in words(row.shared_with))
    return Device(
        id=row.id or 0,
        mac=row.mac,
        ip=row.ip,
        name=row.name,
        owner=row.owner,
        child_id=row.child_id,
        shared_with=shared,
        inspect=row.inspect,
        first_seen=utc(row.first_seen),
        last_seen=utc(row.last_seen),
        pending_mac=getattr(row, "pending_mac", None),
        hostname=getattr(row, "hostname", None),
        reserved_ip=getattr(row, "reserved_ip", None),
    )


def to_rule(row: Any) -> RuleEntry:
    return RuleEntry(row.child_id, row.verb, row.kind, row.value, row.id)


# Schedule fields stored as comma-separated text; every other field is its column, as is.
_SCHEDULE_LISTS = {
    "days": lambda text: frozenset(int(d) for d in words(text)),
    "block": lambda text: frozenset(words(text)),
    "allow": words,
}
_SCHEDULE_FIELDS = tuple(f.name for f in fields(Schedule) if f.init)


def to_schedule(row: Any) -> Schedule:
    """A schedule from its row, field by field: a new column with a field of the same name
    comes through without a change here."""
    values = {name: getattr(row, name) for name in _SCHEDULE_FIELDS}
    for name, parse in _SCHEDULE_LISTS.items():
        values[name] = parse(values[name])
    values["id"] = row.id or 0
    return Schedule(**values)


def to_pause(row: Any) -> Pause:
    return Pause(utc(row.until) or row.until, row.child_id, row.device_id, row.id)


def to_overlay(row: Any) -> Overlay:
    return Overlay(
        id=row.id or 0,
        child_id=row.child_id,
        kind=row.kind,
        until=utc(row.until) or row.until,
        schedule_id=row.schedule_id,
        target_kind=row.target_kind,
        target=row.target,
        request_id=row.request_id,
        created=utc(row.created),
        minutes=row.minutes,
    )


def to_budget(row: Any, use: Any = None) -> Budget:
    """A budget row, with its `budget_use` row (the minutes counted on its day), if any."""
    used, day = (use.minutes, use.day) if use is not None else (None, None)
    if isinstance(day, str):
        day = date.fromisoformat(day)
    days = tuple(int(m) for m in words(row.days))
    return Budget(row.id or 0, row.child_id, row.kind, row.target or "", days,
                  row.reset_hour, used or 0, day)  # fmt: skip
