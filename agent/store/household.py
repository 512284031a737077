"""The household in the database: children, devices, house rules, schedules and pauses.

The only place that talks SQL about the household (with its two helpers,
`household_tables` and `household_devices`, whose public functions are re-exported here).
Plain data goes in, checked by `agent.household.checks` (what a name, a rule or a birth date may
be is the household's rule, not the store's); frozen dataclasses from `agent.rules.household`
come out. Every change bumps
`household_meta.version` in the same transaction, so the DNS process notices any change by
polling one integer (`household_version`) and then loads a fresh snapshot (`load_household`).
Mistakes a parent can fix raise `HouseholdError` with a one-line message. Times go in
timezone-aware and come back in UTC.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from agent.household.checks import check_rule, check_schedule, check_youtube_level
from agent.rules.household import Child, Household, Pause, RuleEntry
from agent.rules.household import Schedule as ScheduleEntry
from agent.store.budgets import list_budgets
from agent.store.dialect import NO_TABLE_YET
from agent.store.household_children import Removed, remove_child, update_child
from agent.store.household_devices import (
    KEEP,
    AddressTaken,
    add_device,
    confirm_mac,
    device_labels,
    devices_page,
    dot_id_for,
    forget_pending_mac,
    get_device,
    list_devices,
    merge_devices,
    note_hostnames,
    record_seen,
    remove_device,
    reserve_address,
    update_device,
)
from agent.store.household_rows import to_overlay
from agent.store.household_tables import (
    ChildRow,
    DeviceRow,
    HouseholdError,
    HouseholdMeta,
    NeedsConfirmation,
    PauseRow,
    RuleRow,
    ScheduleRow,
    as_utc,
    changing,
    check_born,
    check_name,
    child_row,
    device_row,
    joined,
    normalise_ip,
    normalise_mac,
    to_child,
    to_device,
    to_pause,
    to_rule,
    to_schedule,
)
from agent.store.overlays import OverlayRow, drop_overlays

__all__ = [
    "KEEP",
    "AddressTaken",
    "HouseholdError",
    "NeedsConfirmation",
    "Removed",
    "add_child",
    "add_device",
    "add_rule",
    "add_schedule",
    "confirm_mac",
    "device_labels",
    "devices_page",
    "forget_pending_mac",
    "get_device",
    "dot_id_for",
    "get_child_by_name",
    "household_version",
    "list_children",
    "list_devices",
    "list_pauses",
    "list_rules",
    "list_schedules",
    "load_household",
    "merge_devices",
    "normalise_ip",
    "normalise_mac",
    "pause",
    "note_hostnames",
    "record_seen",
    "reserve_address",
    "remove_child",
    "remove_device",
    "remove_rule",
    "remove_schedule",
    "resume",
    "set_child_settings",
    "update_child",
    "update_device",
    "update_schedule",
]


def household_version(engine: Engine) -> int:
    """The number that moves with every household change (0 before the first)."""
    with Session(engine) as session:
        meta = session.get(HouseholdMeta, 1)
        return meta.version if meta is not None else 0


# Children ----------------------------------------------------------------------------------


def add_child(engine: Engine, name: str, born: date, *, today: date | None = None) -> Child:
    """Add a child: someone under 18 on `today` (the box's date; the system's if None)."""
    name = check_name(name, "A child's name")
    check_born(born, today or date.today(), adult_ok=False)
    with changing(engine) as session:
        if session.exec(select(ChildRow).where(ChildRow.name_key == name.lower())).first():
            raise HouseholdError(f"there is already a child called {name}")
        row = ChildRow(name=name, name_key=name.lower(), born=born)
        session.add(row)
        session.flush()
        return to_child(row)


def list_children(engine: Engine) -> tuple[Child, ...]:
    """Eldest first."""
    query = select(ChildRow).order_by(ChildRow.born, ChildRow.id)
    with Session(engine) as session:
        return tuple(to_child(r) for r in session.exec(query))


def get_child_by_name(engine: Engine, name: str) -> Child | None:
    """The child called `name` (ignoring case and extra spaces), or None."""
    key = " ".join(name.split()).lower()
    with Session(engine) as session:
        row = session.exec(select(ChildRow).where(ChildRow.name_key == key)).first()
        return to_child(row) if row is not None else None


def set_child_settings(
    engine: Engine,
    child_id: int,
    *,
    protections_on: bool | None = None,
    youtube_level: str | None = KEEP,
    safe_search: bool | None = None,
) -> Child:
    """Change a child's settings; arguments left out stay; `youtube_level=None` = by age."""
    if youtube_level is not KEEP:
        youtube_level = check_youtube_level(youtube_level)
    with changing(engine) as session:
        row = child_row(session, child_id)
        if protections_on is not None:
            row.protections_on = protections_on
        if youtube_level is not KEEP:
            row.youtube_level = youtube_level
        if safe_search is not None:
            row.safe_search = safe_search
        session.add(row)
        return to_child(row)


# Rules -------------------------------------------------------------------------------------


def add_rule(engine: Engine, child_id: int, verb: str, kind: str, value: str) -> RuleEntry:
    """Allow or block an app id, a category or a domain for a child. A rule about the same
    thing with the other verb is replaced: a parent's latest word counts."""
    value = check_rule(verb, kind, value)
    with changing(engine) as session:
        child_row(session, child_id)
        same = (RuleRow.child_id == child_id, RuleRow.kind == kind, RuleRow.value == value)
        row = session.exec(select(RuleRow).where(*same)).first()
        row = row or RuleRow(child_id=child_id, kind=kind, value=value, verb=verb)
        row.verb = verb
        session.add(row)
        session.flush()
        return to_rule(row)


def list_rules(engine: Engine, child_id: int | None = None) -> tuple[RuleEntry, ...]:
    return tuple(to_rule(r) for r in _rows(engine, RuleRow, child_id))


def remove_rule(engine: Engine, rule_id: int) -> None:
    _remove(engine, RuleRow, rule_id, "rule")


# Schedules ---------------------------------------------------------------------------------


def add_schedule(
    engine: Engine,
    child_id: int,
    name: str,
    days: Iterable[int],
    start: time,
    end: time,
    *,
    block_all: bool = False,
    block: Iterable[str] = (),
    allow: Iterable[str] = (),
    all_day: bool = False,
    **more: Any,
) -> ScheduleEntry:
    """A weekly window for a child; `end < start` runs past midnight into the next day. Equal
    start and end is refused unless `all_day` (then it is the whole of each day chosen).
    `more`: any further schedule field, stored as given (a new field needs no change here)."""
    row = ScheduleRow(child_id=child_id, name="", days="", start=start, end=end)
    with changing(engine) as session:
        _fill_schedule(session, row, name, days, start, end, block_all, block, allow, all_day)
        _fill_more(row, more)
        session.add(row)
        session.flush()
        return to_schedule(row)


def update_schedule(
    engine: Engine,
    schedule_id: int,
    name: str,
    days: Iterable[int],
    start: time,
    end: time,
    *,
    block_all: bool = False,
    block: Iterable[str] = (),
    allow: Iterable[str] = (),
    all_day: bool = False,
    **more: Any,
) -> ScheduleEntry:
    """Change a schedule in place (same checks as `add_schedule`); it keeps its id, so "more
    time" given on it still holds."""
    with changing(engine) as session:
        row = session.get(ScheduleRow, schedule_id)
        if row is None:
            raise HouseholdError(f"there is no schedule with id {schedule_id}")
        _fill_schedule(session, row, name, days, start, end, block_all, block, allow, all_day)
        _fill_more(row, more)
        session.add(row)
        session.flush()
        return to_schedule(row)


def _fill_schedule(
    session: Session,
    row: ScheduleRow,
    name: str,
    days: Iterable[int],
    start: time,
    end: time,
    block_all: bool,
    block: Iterable[str],
    allow: Iterable[str],
    all_day: bool,
) -> None:
    s = check_schedule(
        name, days, start, end, block_all=block_all, block=block, allow=allow, all_day=all_day
    )
    child_row(session, row.child_id)
    for other in session.exec(select(ScheduleRow).where(ScheduleRow.child_id == row.child_id)):
        if other.id != row.id and other.name.lower() == s.name.lower():
            raise HouseholdError(f"this child already has a schedule called {other.name}")
    row.name, row.days, row.start, row.end = s.name, joined(s.days), s.start, s.end
    row.block_all, row.block, row.allow = block_all, joined(s.block), joined(s.allow)


_CHECKED_SCHEDULE_FIELDS = frozenset(
    {"id", "child_id", "name", "days", "start", "end", "block_all", "block", "allow"}
)


def _fill_more(row: ScheduleRow, more: dict[str, Any]) -> None:
    """Schedule fields beyond the checked ones, set as given: a column of the table, never one
    of the fields `_fill_schedule` checks."""
    for key, value in more.items():
        if key in _CHECKED_SCHEDULE_FIELDS or key not in ScheduleRow.model_fields:
            raise HouseholdError(f"a schedule has no field {key!r} to set this way")
        setattr(row, key, value)


def list_schedules(engine: Engine, child_id: int | None = None) -> tuple[ScheduleEntry, ...]:
    return tuple(to_schedule(r) for r in _rows(engine, ScheduleRow, child_id))


def remove_schedule(engine: Engine, schedule_id: int) -> None:
    """Remove a schedule and the "more time" given on it."""
    with changing(engine) as session:
        row = session.get(ScheduleRow, schedule_id)
        if row is None:
            raise HouseholdError(f"there is no schedule with id {schedule_id}")
        drop_overlays(session, schedule_id=schedule_id)
        session.delete(row)


# Pauses ------------------------------------------------------------------------------------


def pause(
    engine: Engine, until: datetime, *, child_id: int | None = None, device_id: int | None = None
) -> Pause:
    """Pause a child or a device until `until` (timezone-aware); replaces an earlier pause."""
    if (child_id is None) == (device_id is None):
        raise HouseholdError("pause either a child or a device")
    stored = as_utc(until)
    with changing(engine) as session:
        if child_id is not None:
            child_row(session, child_id)
        else:
            device_row(session, device_id or 0)
        _delete_pauses(session, child_id, device_id)
        row = PauseRow(child_id=child_id, device_id=device_id, until=stored)
        session.add(row)
        session.flush()
        return to_pause(row)


def resume(engine: Engine, *, child_id: int | None = None, device_id: int | None = None) -> bool:
    """End a pause early; False if there was none."""
    if (child_id is None) == (device_id is None):
        raise HouseholdError("resume either a child or a device")
    with changing(engine) as session:
        return _delete_pauses(session, child_id, device_id) > 0


def list_pauses(engine: Engine) -> tuple[Pause, ...]:
    return tuple(to_pause(r) for r in _rows(engine, PauseRow, None))


def _delete_pauses(session: Session, child_id: int | None, device_id: int | None) -> int:
    if child_id is not None:
        rows = session.exec(select(PauseRow).where(PauseRow.child_id == child_id)).all()
    else:
        rows = session.exec(select(PauseRow).where(PauseRow.device_id == device_id)).all()
    for row in rows:
        session.delete(row)
    return len(rows)


# The snapshot ------------------------------------------------------------------------------


def load_household(engine: Engine) -> Household:
    """The whole household as one immutable snapshot.

    The version is read first: if a change lands while the rest is read, the snapshot carries
    the older number, so the next poll sees a newer one and loads again."""
    with Session(engine) as session:
        meta = session.get(HouseholdMeta, 1)
        tables = (ChildRow, DeviceRow, RuleRow, ScheduleRow, PauseRow)
        children, devices, rules, schedules, pauses = (
            session.exec(select(t).order_by(t.id)).all()  # type: ignore[attr-defined]
            for t in tables
        )
        try:
            overlays = session.exec(select(OverlayRow).order_by(OverlayRow.id)).all()
        except NO_TABLE_YET:  # a database not yet migrated to 0005h: none yet
            session.rollback()  # PostgreSQL: the failed statement ended the transaction
            overlays = []
        try:
            budgets = list_budgets(session.get_bind())
        except NO_TABLE_YET:  # a database not yet migrated to 0006t: none yet
            budgets = []
        return Household(
            children=tuple(to_child(r) for r in children),
            devices=tuple(to_device(r) for r in devices),
            rules=tuple(to_rule(r) for r in rules),
            schedules=tuple(to_schedule(r) for r in schedules),
            pauses=tuple(to_pause(r) for r in pauses),
            overlays=tuple(to_overlay(r) for r in overlays),
            budgets=tuple(budgets),
            version=meta.version if meta is not None else 0,
        )


def _rows(engine: Engine, table: type[SQLModel], child_id: int | None) -> list[SQLModel]:
    query = select(table).order_by(table.id)  # type: ignore[attr-defined]
    if child_id is not None:
        query = query.where(table.child_id == child_id)  # type: ignore[attr-defined]
    with Session(engine) as session:
        return list(session.exec(query))


def _remove(engine: Engine, table: type[SQLModel], row_id: int, what: str) -> None:
    with changing(engine) as session:
        row = session.get(table, row_id)
        if row is None:
            raise HouseholdError(f"there is no {what} with id {row_id}")
        session.delete(row)
