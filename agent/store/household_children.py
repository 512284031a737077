"""Putting a child right: a new name, a corrected birth date, or removing them with their data.

Re-exported by `agent.store.household`; import from there. Removing a child removes their
house rules, schedules, pauses, temporary changes (overlays) and requests; their devices stay
in the device list, unassigned (so they get the rules for unassigned devices until a parent
says whose they are), and the alert history and query log keep what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlmodel import select

from agent.rules.household import Child
from agent.store.budgets import drop_budgets
from agent.store.household_rows import joined, words
from agent.store.household_tables import (
    ChildRow,
    DeviceRow,
    HouseholdError,
    NeedsConfirmation,
    PauseRow,
    RuleRow,
    ScheduleRow,
    changing,
    check_born,
    check_name,
    child_row,
    to_child,
)
from agent.store.overlays import drop_overlays

__all__ = ["NeedsConfirmation", "Removed", "remove_child", "update_child"]


@dataclass(frozen=True)
class Removed:
    """What went with a removed child, for the words a parent reads."""

    name: str
    devices_unassigned: int
    rules: int
    schedules: int


def update_child(
    engine: Engine,
    child_id: int,
    *,
    name: str | None = None,
    born: date | None = None,
    today: date | None = None,
    adult_ok: bool = False,
) -> Child:
    """Rename a child or correct their birth date. A date that makes them 18 or more raises
    `NeedsConfirmation` unless `adult_ok` (the parent confirmed)."""
    with changing(engine) as session:
        row = child_row(session, child_id)
        if name is not None:
            name = check_name(name, "A child's name")
            same = select(ChildRow).where(ChildRow.name_key == name.lower())
            other = session.exec(same).first()
            if other is not None and other.id != child_id:
                raise HouseholdError(f"there is already a child called {other.name}")
            row.name, row.name_key = name, name.lower()
        if born is not None:
            check_born(born, today or date.today(), adult_ok=adult_ok)
            row.born = born
        session.add(row)
        session.flush()
        return to_child(row)


def remove_child(engine: Engine, child_id: int) -> Removed:
    """Remove a child with their rules, schedules, pauses, overlays and requests; their
    devices become unassigned."""
    with changing(engine) as session:
        row = child_row(session, child_id)
        unassigned = 0
        for device in session.exec(select(DeviceRow)):
            shared = [int(i) for i in words(device.shared_with)]
            if device.child_id == child_id:
                device.owner, device.child_id = "unassigned", None
                unassigned += 1
            elif child_id in shared:
                device.shared_with = joined(i for i in shared if i != child_id)
            else:
                continue
            session.add(device)
        drop_overlays(session, child_id=child_id)
        drop_budgets(session, child_id)
        counts = {}
        for table in (RuleRow, ScheduleRow, PauseRow):
            done = session.execute(delete(table).where(table.child_id == child_id))
            counts[table] = done.rowcount
        session.execute(text("DELETE FROM child_requests WHERE child_id = :c"), {"c": child_id})
        name = row.name
        session.flush()
        session.delete(row)
        return Removed(name, unassigned, counts[RuleRow], counts[ScheduleRow])
