"""The `overlays` table: temporary changes with an end, and nothing else.

An overlay is added, read and cancelled here; what one means is `agent.rules.overlays` and
`decide()`. Every change bumps the household version in the same transaction, so the DNS
process sees a new or cancelled overlay within a second. An overlay that runs out needs no
write: `decide()` compares its `until` with the time. Old rows are pruned when new ones are
added.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, delete, select

from agent.rules.household import OVERLAY_KINDS, Overlay
from agent.store.household_rows import to_overlay, utc
from agent.store.household_tables import (
    HouseholdError,
    as_utc,
    changing,
    check_domain,
    child_row,
)

KEEP_ENDED = timedelta(days=7)  # ended overlays stay this long, then go with the next change


class OverlayRow(SQLModel, table=True):
    __tablename__ = "overlays"
    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="children.id", index=True)
    kind: str  # "more_time" | "unblock"
    until: datetime  # UTC
    schedule_id: int | None = None  # more_time
    target_kind: str | None = None  # unblock: "app" | "category" | "domain"
    target: str | None = None
    request_id: int | None = None
    created: datetime | None = None  # UTC
    minutes: int | None = None  # extra_time: minutes added to a budget (None = no limit today)


def add_overlay(
    engine: Engine,
    child_id: int,
    kind: str,
    until: datetime,
    now: datetime,
    *,
    schedule_id: int | None = None,
    target_kind: str | None = None,
    target: str | None = None,
    request_id: int | None = None,
    minutes: int | None = None,
) -> Overlay:
    """A temporary change for a child from `now` until `until` (both timezone-aware)."""
    if kind not in OVERLAY_KINDS:
        raise HouseholdError(
            f"a temporary change is more_time or unblock (extra_time on a budget), not {kind!r}"
        )
    start, end = as_utc(now), as_utc(until)
    if end <= start:
        raise HouseholdError("a temporary change must end after it starts")
    if kind == "more_time" and schedule_id is None:
        raise HouseholdError("more time names the schedule it holds off")
    if kind == "unblock":
        if target_kind not in ("app", "category", "domain") or not target:
            raise HouseholdError("an unblock names an app, a kind of app or a website")
        target = check_domain(target) if target_kind == "domain" else target.strip().lower()
    if kind == "extra_time" and (target_kind != "budget" or not target):
        raise HouseholdError("extra time names the budget it adds to")
    with changing(engine) as session:
        child_row(session, child_id)
        session.execute(delete(OverlayRow).where(col(OverlayRow.until) < start - KEEP_ENDED))
        row = OverlayRow(
            child_id=child_id,
            kind=kind,
            until=end,
            schedule_id=schedule_id,
            target_kind=target_kind if kind != "more_time" else None,
            target=target if kind != "more_time" else None,
            request_id=request_id,
            minutes=minutes if kind == "extra_time" else None,
            created=start,
        )
        session.add(row)
        session.flush()
        return to_overlay(row)


def list_overlays(
    engine: Engine, child_id: int | None = None, running_at: datetime | None = None
) -> list[Overlay]:
    """Overlays (of one child), soonest to end first; only those running at `running_at`."""
    query = select(OverlayRow).order_by(col(OverlayRow.until), col(OverlayRow.id))
    if child_id is not None:
        query = query.where(OverlayRow.child_id == child_id)
    if running_at is not None:
        query = query.where(col(OverlayRow.until) > as_utc(running_at))
    with Session(engine) as session:
        return [to_overlay(r) for r in session.exec(query)]


def end_overlay(engine: Engine, overlay_id: int, now: datetime) -> Overlay:
    """Stop an overlay now (a parent changed their mind): its end moves to `now`."""
    with changing(engine) as session:
        row = session.get(OverlayRow, overlay_id)
        if row is None:
            raise HouseholdError(f"there is no temporary change with id {overlay_id}")
        stop = as_utc(now)
        if (utc(row.until) or stop) > stop:
            row.until = stop
            session.add(row)
        return to_overlay(row)


def drop_overlays(
    session: Session, *, child_id: int | None = None, schedule_id: int | None = None
) -> None:
    """Delete a child's or a schedule's overlays inside the caller's change."""
    query = delete(OverlayRow)
    if child_id is not None:
        query = query.where(OverlayRow.child_id == child_id)
    if schedule_id is not None:
        query = query.where(OverlayRow.schedule_id == schedule_id)
    session.execute(query)


__all__ = ["OverlayRow", "add_overlay", "drop_overlays", "end_overlay", "list_overlays"]
