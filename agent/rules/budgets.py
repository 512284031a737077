"""Daily time budgets: the pure part ("an hour of games a day").

A budget is a child's allowance of minutes for an app, a category or all online time, per
weekday, for a day that runs from the reset hour (04:00 by default, so a late evening counts
for the day it belongs to) to the same hour the next day. The minutes used are counted by the
insights job (`docs/activity-estimate.md`) and reach the DNS process in the household snapshot;
extra time and "no limit today" are "extra_time" overlays that end when the budget's day ends.
Nothing here touches the database or reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from agent.rules.household import Budget, Overlay

SCHOOL_DAYS = (0, 1, 2, 3, 4)
DEFAULT_RESET_HOUR = 4
MAX_MINUTES = 24 * 60
WARN_MINUTES = 5  # "5 minutes left"
EXTRA_CHOICES: dict[str, int | None] = {"15": 15, "30": 30, "60": 60, "today": None}


class BudgetError(ValueError):
    """A budget that cannot be set; the message is one line."""


def week_of(school: int, weekend: int, per_day: dict[int, int] | None = None) -> tuple[int, ...]:
    """Minutes for Monday..Sunday from a school-day and a weekend value, with any weekday
    given on its own (`per_day`: 0 = Monday)."""
    days = [school if d in SCHOOL_DAYS else weekend for d in range(7)]
    for day, minutes in (per_day or {}).items():
        if not 0 <= day <= 6:
            raise BudgetError(f"a weekday is 0 (Monday) to 6 (Sunday), not {day}")
        days[day] = minutes
    for minutes in days:
        if not 0 <= minutes <= MAX_MINUTES:
            raise BudgetError(f"a day's budget is 0 to {MAX_MINUTES} minutes, not {minutes}")
    return tuple(days)


def budget_day(now: datetime, reset_hour: int) -> date:
    """The day `now` (local) counts for: before the reset hour it is still yesterday."""
    return (now - timedelta(hours=reset_hour)).date()


def day_bounds(day: date, reset_hour: int, tz: object) -> tuple[datetime, datetime]:
    """When a budget day starts and ends (local, in zone `tz`)."""
    start = datetime.combine(day, time(reset_hour), tz)  # type: ignore[arg-type]
    end = datetime.combine(day + timedelta(days=1), time(reset_hour), tz)  # type: ignore[arg-type]
    return start, end


def next_reset(now: datetime, reset_hour: int) -> datetime:
    """When the day `now` is in ends and the budget starts again."""
    return day_bounds(budget_day(now, reset_hour), reset_hour, now.tzinfo)[1]


def allowed_on(budget: Budget, day: date) -> int:
    return budget.days[day.weekday()]


@dataclass(frozen=True, slots=True)
class BudgetState:
    """Where a budget stands at one moment."""

    budget: Budget
    day: date
    allowed: int  # today's value
    extra: int | None  # minutes added today; None = no limit today
    used: int

    @property
    def limit(self) -> int | None:
        return None if self.extra is None else self.allowed + self.extra

    @property
    def used_up(self) -> bool:
        limit = self.limit
        return limit is not None and self.used >= limit

    @property
    def left(self) -> int | None:
        """Minutes left today; None with no limit today."""
        limit = self.limit
        return None if limit is None else max(0, limit - self.used)


def extra_today(budget_id: int, overlays: Iterable[Overlay], now: datetime) -> int | None:
    """Minutes of extra time running for a budget at `now`; None if one says "no limit"."""
    total = 0
    target = str(budget_id)
    for o in overlays:
        if o.kind == "extra_time" and o.target == target and now < o.until:
            if o.minutes is None:
                return None
            total += o.minutes
    return total


def state(budget: Budget, overlays: Iterable[Overlay], now: datetime) -> BudgetState:
    """The budget at `now` with the minutes the snapshot holds (0 if they are for another
    day: the day started again at the reset hour)."""
    day = budget_day(now, budget.reset_hour)
    used = budget.used if budget.used_day == day else 0
    return BudgetState(
        budget, day, allowed_on(budget, day), extra_today(budget.id, overlays, now), used
    )


def is_used_up(budget: Budget, overlays: Iterable[Overlay], now: datetime) -> bool:
    return state(budget, overlays, now).used_up


def covers(budget: Budget, apps: Iterable[str], categories: Iterable[str]) -> bool:
    """Whether a budget counts an app (by id) or anything in these categories."""
    if budget.kind == "all":
        return True
    if budget.kind == "app":
        return budget.target in apps
    return budget.target in categories


def left_words(left: int | None) -> str:
    """What /kids says: "45 minutes left", "5 minutes left", "time's up", "no limit today"."""
    if left is None:
        return "no limit today"
    if left <= 0:
        return "time's up"
    hours, minutes = divmod(left, 60)
    if not hours:
        return "1 minute left" if minutes == 1 else f"{minutes} minutes left"
    if not minutes:
        return "1 hour left" if hours == 1 else f"{hours} hours left"
    return f"{hours} h {minutes} min left"
