"""Activity summaries for the dashboard and the digest, read from the rollups as plain data.

The insights job keeps the rollups up to date (`agent.store.rollup_writes`); these functions
only read them, so a summary costs a few indexed lookups whatever the size of the query log.
Minutes are the estimate described in docs/activity-estimate.md. Days are the box's local
dates; first and last activity come back as timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from agent.rules.decision import RuleRef
from agent.store.rollup_tables import (  # noqa: F401  (the tables, for init_db)
    ActiveMinute,
    ActivityMark,
    BlockedDaily,
    ChildDaily,
    ChildHourly,
    CountedMinute,
    UsageDaily,
    UsageHourly,
)

TOP = 10


@dataclass(frozen=True)
class Usage:
    """Time on one app (a catalogue id) or site (a registrable domain)."""

    kind: str  # "app" | "site"
    name: str
    minutes: int
    queries: int
    blocked: int


@dataclass(frozen=True)
class BlockedCount:
    rule: RuleRef  # read back from the query log's text ("age:tiktok")
    count: int


@dataclass(frozen=True)
class DayTotal:
    day: date
    minutes: int
    queries: int = 0
    blocked: int = 0


@dataclass(frozen=True)
class DaySummary:
    child: str
    day: date
    minutes: int  # estimated active minutes, all apps and sites together
    queries: int
    blocked: int
    first_activity: datetime | None  # UTC; the first and last minute counted as active
    last_activity: datetime | None
    apps: tuple[Usage, ...]  # most used first
    sites: tuple[Usage, ...]
    blocked_by_reason: tuple[BlockedCount, ...]  # most first
    hours: tuple[int, ...]  # active minutes in each local hour, 0-23


@dataclass(frozen=True)
class WeekSummary:
    child: str
    monday: date
    days: tuple[DayTotal, ...]  # Monday to Sunday
    minutes: int
    previous_week_minutes: int
    apps: tuple[Usage, ...]
    sites: tuple[Usage, ...]
    blocked_by_reason: tuple[BlockedCount, ...]
    hours: tuple[int, ...]  # the week's active minutes in each local hour

    @property
    def queries(self) -> int:
        return sum(d.queries for d in self.days)

    @property
    def blocked(self) -> int:
        return sum(d.blocked for d in self.days)

    @property
    def change_minutes(self) -> int:
        """Change from the week before (positive: more time this week)."""
        return self.minutes - self.previous_week_minutes


def day_summary(engine: Engine, child: str, day: date, top: int = TOP) -> DaySummary:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM child_daily WHERE child = :c AND day = :d"),
            {"c": child, "d": day.isoformat()},
        ).first()
        first, last = (row.first_minute, row.last_minute) if row is not None else (None, None)
        apps, sites = _usage(conn, child, day, day, top)
        return DaySummary(
            child=child,
            day=day,
            minutes=row.minutes if row is not None else 0,
            queries=row.queries if row is not None else 0,
            blocked=row.blocked if row is not None else 0,
            first_activity=_moment(first),
            last_activity=_moment(last),
            apps=apps,
            sites=sites,
            blocked_by_reason=_blocked(conn, child, day, day),
            hours=_hours(conn, child, day, day),
        )


def week_summary(engine: Engine, child: str, monday: date, top: int = TOP) -> WeekSummary:
    """The week starting `monday` (any date works: the week runs 7 days from it)."""
    sunday = monday + timedelta(days=6)
    with engine.connect() as conn:
        days = _series(conn, child, monday, 7)
        before = _series(conn, child, monday - timedelta(days=7), 7)
        apps, sites = _usage(conn, child, monday, sunday, top)
        return WeekSummary(
            child=child,
            monday=monday,
            days=tuple(days),
            minutes=sum(d.minutes for d in days),
            previous_week_minutes=sum(d.minutes for d in before),
            apps=apps,
            sites=sites,
            blocked_by_reason=_blocked(conn, child, monday, sunday),
            hours=_hours(conn, child, monday, sunday),
        )


def activity_series(engine: Engine, child: str, start_day: date, days: int) -> list[DayTotal]:
    """One total per day from `start_day`, days with no activity included (as zeros)."""
    with engine.connect() as conn:
        return _series(conn, child, start_day, days)


def hour_profile(engine: Engine, child: str, start_day: date, days: int = 1) -> tuple[int, ...]:
    """Active minutes in each local hour (0-23), summed over `days` days from `start_day`."""
    with engine.connect() as conn:
        return _hours(conn, child, start_day, start_day + timedelta(days=days - 1))


def children_with_activity(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT DISTINCT child FROM child_daily ORDER BY child")).all()
    return [r.child for r in rows]


def _series(conn: Connection, child: str, start: date, days: int) -> list[DayTotal]:
    end = start + timedelta(days=days - 1)
    rows = conn.execute(
        text(
            "SELECT day, minutes, queries, blocked FROM child_daily "
            "WHERE child = :c AND day BETWEEN :a AND :b"
        ),
        {"c": child, "a": start.isoformat(), "b": end.isoformat()},
    ).all()
    found = {r.day: r for r in rows}
    out = []
    for i in range(days):
        day = start + timedelta(days=i)
        r = found.get(day.isoformat())
        out.append(DayTotal(day, r.minutes, r.queries, r.blocked) if r else DayTotal(day, 0))
    return out


def _usage(
    conn: Connection, child: str, start: date, end: date, top: int
) -> tuple[tuple[Usage, ...], tuple[Usage, ...]]:
    found: dict[str, tuple[Usage, ...]] = {}
    for kind in ("app", "site"):
        rows = conn.execute(
            text(
                "SELECT name, sum(minutes) AS m, sum(queries) AS q, sum(blocked) AS b "
                "FROM usage_daily WHERE child = :c AND kind = :k AND day BETWEEN :a AND :z "
                "GROUP BY name ORDER BY m DESC, q DESC, name LIMIT :top"
            ),
            {"c": child, "k": kind, "a": start.isoformat(), "z": end.isoformat(), "top": top},
        ).all()
        found[kind] = tuple(Usage(kind, r.name, r.m, r.q, r.b) for r in rows)
    return found["app"], found["site"]


def _blocked(conn: Connection, child: str, start: date, end: date) -> tuple[BlockedCount, ...]:
    rows = conn.execute(
        text(
            "SELECT rule, sum(count) AS n FROM blocked_daily "
            "WHERE child = :c AND day BETWEEN :a AND :z GROUP BY rule ORDER BY n DESC, rule"
        ),
        {"c": child, "a": start.isoformat(), "z": end.isoformat()},
    ).all()
    return tuple(BlockedCount(RuleRef.from_column(r.rule), r.n) for r in rows)


def _hours(conn: Connection, child: str, start: date, end: date) -> tuple[int, ...]:
    rows = conn.execute(
        text(
            "SELECT hour, sum(minutes) AS m FROM child_hourly "
            "WHERE child = :c AND day BETWEEN :a AND :z GROUP BY hour"
        ),
        {"c": child, "a": start.isoformat(), "z": end.isoformat()},
    ).all()
    hours = [0] * 24
    for r in rows:
        hours[r.hour] = r.m
    return tuple(hours)


def _moment(minute: int | None) -> datetime | None:
    return datetime.fromtimestamp(minute * 60, UTC) if minute is not None else None


def summary_json(summary: DaySummary | WeekSummary, tz: Any = UTC) -> dict[str, Any]:
    """A summary as JSON-ready data (times in `tz`)."""
    out: dict[str, Any] = {"child": summary.child, "minutes": summary.minutes}
    out["queries"], out["blocked"] = summary.queries, summary.blocked
    if isinstance(summary, DaySummary):
        out["day"] = summary.day.isoformat()
        for key in ("first_activity", "last_activity"):
            moment = getattr(summary, key)
            out[key] = moment.astimezone(tz).isoformat() if moment else None
    else:
        iso = summary.monday.isocalendar()
        out["week"], out["monday"] = f"{iso.year}-W{iso.week:02d}", summary.monday.isoformat()
        out["days"] = [{"day": d.day.isoformat(), "minutes": d.minutes} for d in summary.days]
        out["previous_week_minutes"] = summary.previous_week_minutes
        out["change_minutes"] = summary.change_minutes
    out["apps"] = [_usage_json(u) for u in summary.apps]
    out["sites"] = [_usage_json(u) for u in summary.sites]
    out["blocked_by_reason"] = [
        {"rule": b.rule.to_column(), "count": b.count} for b in summary.blocked_by_reason
    ]
    out["hours"] = list(summary.hours)
    return out


def _usage_json(u: Usage) -> dict[str, Any]:
    return {"name": u.name, "minutes": u.minutes, "queries": u.queries, "blocked": u.blocked}
