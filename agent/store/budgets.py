"""The `budgets` and `budget_use` tables: daily time budgets and the minutes used today.

A budget is set, listed and removed here (each change bumps the household version); what one
means is `agent.rules.budgets` and `decide()`. `record_use` runs in the jobs process right after
the insights job: it counts each budget's minutes for its day from the activity rollups and
writes them to `budget_use`, which the DNS process reads with the household snapshot. It bumps
the household version only when a budget becomes used up (or stops being), so the DNS process
reloads within its poll at that moment and not every minute of use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel, col, delete, select

from agent.rules import budgets as rules
from agent.rules.household import BUDGET_KINDS, Budget, Overlay
from agent.store.dialect import NO_TABLE_YET
from agent.store.household_rows import to_budget
from agent.store.household_tables import HouseholdError, as_utc, bump, changing, child_row
from agent.store.overlays import add_overlay, list_overlays


class BudgetRow(SQLModel, table=True):
    __tablename__ = "budgets"
    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="children.id", index=True)
    kind: str  # "app" | "category" | "all"
    target: str = ""  # an app id or a category; "" for all online time
    days: str  # minutes for Monday..Sunday, comma-separated
    reset_hour: int = rules.DEFAULT_RESET_HOUR


class BudgetUseRow(SQLModel, table=True):
    __tablename__ = "budget_use"
    budget_id: int = Field(primary_key=True)
    day: str  # the budget day (local date the day starts on)
    minutes: int = 0
    updated: datetime | None = None  # UTC


def set_budget(
    engine: Engine,
    child_id: int,
    kind: str,
    target: str,
    days: tuple[int, ...],
    reset_hour: int = rules.DEFAULT_RESET_HOUR,
) -> Budget:
    """Set (or replace) a child's budget for an app, a category or all online time."""
    if kind not in BUDGET_KINDS:
        raise HouseholdError(f"a budget is for an app, a category or all, not {kind!r}")
    target = "" if kind == "all" else target.strip().lower()
    if kind != "all" and not target:
        raise HouseholdError(f"a budget for a {kind} names it")
    if not 0 <= reset_hour <= 23:
        raise HouseholdError(f"the day starts again at an hour from 0 to 23, not {reset_hour}")
    if len(days) != 7 or any(not 0 <= m <= rules.MAX_MINUTES for m in days):
        raise HouseholdError(f"a budget gives 0 to {rules.MAX_MINUTES} minutes for each day")
    with changing(engine) as session:
        child_row(session, child_id)
        row = session.exec(
            select(BudgetRow).where(
                BudgetRow.child_id == child_id, BudgetRow.kind == kind, BudgetRow.target == target
            )
        ).first()
        if row is None:
            row = BudgetRow(child_id=child_id, kind=kind, target=target, days="")
        row.days = ",".join(str(m) for m in days)
        row.reset_hour = reset_hour
        session.add(row)
        session.flush()
        return to_budget(row)


def list_budgets(engine: Engine, child_id: int | None = None) -> list[Budget]:
    """Budgets (of one child) with the minutes last counted for them."""
    query = select(BudgetRow).order_by(col(BudgetRow.id))
    if child_id is not None:
        query = query.where(BudgetRow.child_id == child_id)
    with Session(engine) as session:
        rows = session.exec(query).all()
        used = {u.budget_id: u for u in session.exec(select(BudgetUseRow)).all()}
    return [to_budget(r, used.get(r.id or 0)) for r in rows]


def has_budgets(engine: Engine) -> bool:
    """Whether any child has a daily budget (one cheap query, for the jobs' timer)."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1 FROM budgets LIMIT 1")).first() is not None
    except NO_TABLE_YET:  # not migrated yet
        return False


def get_budget(engine: Engine, budget_id: int) -> Budget:
    for b in list_budgets(engine):
        if b.id == budget_id:
            return b
    raise HouseholdError(f"there is no budget with id {budget_id}")


def remove_budget(engine: Engine, budget_id: int) -> None:
    with changing(engine) as session:
        row = session.get(BudgetRow, budget_id)
        if row is None:
            raise HouseholdError(f"there is no budget with id {budget_id}")
        session.execute(delete(BudgetUseRow).where(col(BudgetUseRow.budget_id) == budget_id))
        session.delete(row)


def drop_budgets(session: Session, child_id: int) -> None:
    """Delete a child's budgets inside the caller's change (the child is being removed)."""
    ids = [b.id for b in session.exec(select(BudgetRow).where(BudgetRow.child_id == child_id))]
    if ids:
        session.execute(delete(BudgetUseRow).where(col(BudgetUseRow.budget_id).in_(ids)))
        session.execute(delete(BudgetRow).where(col(BudgetRow.child_id) == child_id))


def add_extra_time(
    engine: Engine,
    budget: Budget,
    minutes: int | None,
    now: datetime,
    request_id: int | None = None,
) -> Overlay:
    """More minutes on today's budget (None: no limit today), until the day starts again."""
    if minutes is not None and not 1 <= minutes <= rules.MAX_MINUTES:
        raise HouseholdError(f"extra time is 1 to {rules.MAX_MINUTES} minutes, not {minutes}")
    return add_overlay(
        engine,
        budget.child_id,
        "extra_time",
        rules.next_reset(now, budget.reset_hour),
        now,
        target_kind="budget",
        target=str(budget.id),
        minutes=minutes,
        request_id=request_id,
    )


# The minutes used, counted in the jobs process ----------------------------------------------


@dataclass(frozen=True)
class UseReport:
    budgets: int
    flipped: int  # budgets that became used up, or open again (the version was bumped)


def record_use(
    engine: Engine,
    child_names: Mapping[int, str],
    app_categories: Mapping[str, str],
    now: datetime,
) -> UseReport:
    """Count every budget's minutes for its day at `now` (local) and store them.

    `child_names` maps child ids to the names the activity tables use; `app_categories` app ids
    to their categories (the catalogue). The household version moves only when a budget's
    "used up" flips, in the same transaction as the minutes that flip it."""
    budgets = list_budgets(engine)
    if not budgets:
        return UseReport(0, 0)
    overlays = list_overlays(engine, running_at=now)
    counted: dict[int, tuple[str, int]] = {}
    with engine.connect() as conn:
        for b in budgets:
            name = child_names.get(b.child_id)
            if name is None:
                continue
            day = rules.budget_day(now, b.reset_hour)
            start, _end = rules.day_bounds(day, b.reset_hour, now.tzinfo)
            lo, hi = int(start.timestamp() // 60), int(now.timestamp() // 60)
            counted[b.id] = (day.isoformat(), _minutes(conn, b, name, app_categories, lo, hi))
    flipped = 0
    stamp = as_utc(now)
    with Session(engine) as session:
        for b in budgets:
            if b.id not in counted:
                continue
            day, minutes = counted[b.id]
            mine = [o for o in overlays if o.child_id == b.child_id]
            before = rules.is_used_up(b, mine, now)
            after_budget = Budget(
                b.id,
                b.child_id,
                b.kind,
                b.target,
                b.days,
                b.reset_hour,
                minutes,
                date.fromisoformat(day),
            )
            if rules.is_used_up(after_budget, mine, now) != before:
                flipped += 1
            row = session.get(BudgetUseRow, b.id)
            if row is None:
                row = BudgetUseRow(budget_id=b.id, day=day, minutes=-1)
            if row.day == day and row.minutes == minutes:
                continue
            row.day, row.minutes, row.updated = day, minutes, stamp
            session.add(row)
        if flipped:
            bump(session)
        session.commit()
    return UseReport(len(counted), flipped)


def _minutes(
    conn: Connection,
    budget: Budget,
    child: str,
    app_categories: Mapping[str, str],
    lo: int,
    hi: int,
) -> int:
    if budget.kind == "all":
        sql = "SELECT COUNT(*) FROM active_minutes WHERE child = :c AND minute BETWEEN :lo AND :hi"
        return conn.execute(text(sql), {"c": child, "lo": lo, "hi": hi}).scalar_one()
    if budget.kind == "app":
        apps = [budget.target]
    else:
        apps = sorted(a for a, c in app_categories.items() if c == budget.target)
    if not apps:
        return 0
    marks = ", ".join(f":a{i}" for i in range(len(apps)))
    sql = (
        "SELECT COUNT(DISTINCT minute) FROM counted_minutes WHERE child = :c AND kind = 'app' "
        f"AND name IN ({marks}) AND minute BETWEEN :lo AND :hi"
    )
    params: dict[str, object] = {"c": child, "lo": lo, "hi": hi}
    params.update({f"a{i}": a for i, a in enumerate(apps)})
    return conn.execute(text(sql), params).scalar_one()


def used_on(
    engine: Engine,
    budget: Budget,
    child: str,
    app_categories: Mapping[str, str],
    day: date,
    tz: object,
) -> int:
    """A budget's minutes on one whole budget day (from the minute-level activity tables,
    kept as long as the query log)."""
    start, end = rules.day_bounds(day, budget.reset_hour, tz)
    lo, hi = int(start.timestamp() // 60), int(end.timestamp() // 60) - 1
    with engine.connect() as conn:
        return _minutes(conn, budget, child, app_categories, lo, hi)


__all__ = [
    "BudgetRow",
    "BudgetUseRow",
    "UseReport",
    "add_extra_time",
    "drop_budgets",
    "get_budget",
    "has_budgets",
    "list_budgets",
    "record_use",
    "remove_budget",
    "set_budget",
    "used_on",
]
