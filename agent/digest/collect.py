"""What a digest is made of, read from the store; and which week a digest is for.

A carer's digest is due each week on their day at their time (the box's time zone). The digest
due at a moment covers the 7 days before it: events from the previous due moment up to this one
(so nothing falls between two digests), and activity on the 7 whole days ending on the due date,
or the day before when the digest goes out in the morning. Its key is the ISO week of the due
date: one digest per carer per week.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy.engine import Engine

from agent.digest.model import BudgetWeek, ChildWeek, Period, Request
from agent.rules.household import Child
from agent.store.dialect import NO_TABLE_YET
from agent.store.events import events_between
from agent.store.household import list_children, list_devices
from agent.store.rollups import week_summary

MORNING_ENDS = time(12, 0)


def latest_due(now: datetime, day: int, at: time) -> datetime:
    """The latest moment at or before `now` (aware, box time) that is weekday `day` at `at`."""
    back = (now.date().weekday() - day) % 7
    due = _local(now.date() - timedelta(days=back), at, now.tzinfo)
    return due if due <= now else _local(due.date() - timedelta(days=7), at, now.tzinfo)


def due_in_week(week: str, day: int, at: time, tz: tzinfo) -> datetime:
    """The due moment in ISO week "2026-W47"; ValueError if it is not a week."""
    year, _, num = week.partition("-W")
    return _local(date.fromisocalendar(int(year), int(num), day + 1), at, tz)


def period_for(due: datetime) -> Period:
    last = due.date() if due.time() >= MORNING_ENDS else due.date() - timedelta(days=1)
    start = _local(due.date() - timedelta(days=7), due.time(), due.tzinfo)
    return Period(start, due, last - timedelta(days=6), last, iso_week(due.date()))


def iso_week(day: date) -> str:
    iso = day.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def child_week(engine: Engine, child: Child, period: Period, tz: tzinfo) -> ChildWeek:
    """One child's week, times in the box's time zone."""
    events = tuple(
        replace(e, time=e.time.astimezone(tz))
        for e in events_between(engine, child.name, period.start, period.due)
    )
    return ChildWeek(
        name=child.name,
        age=child.age_on(period.last_day),
        summary=week_summary(engine, child.name, period.first_day),
        events=events,
        requests=_requests(engine, child.name, period, tz),
        devices=device_names(engine),
        budgets=_budgets(engine, child, period, tz),
    )


def carer_weeks(
    engine: Engine, names: tuple[str, ...], period: Period, tz: tzinfo
) -> list[ChildWeek]:
    """The weeks of the named children, eldest first; children since removed are left out."""
    wanted = {n.lower() for n in names}
    return [
        child_week(engine, c, period, tz) for c in list_children(engine) if c.name.lower() in wanted
    ]


def device_names(engine: Engine) -> dict[str, str]:
    out: dict[str, str] = {}
    for d in list_devices(engine):
        for key in (d.mac, d.ip):
            if key:
                out[key] = d.label
    return out


def _requests(engine: Engine, child: str, period: Period, tz: tzinfo) -> tuple[Request, ...] | None:
    """The child's requests in the period; None where this box does not record requests."""
    store = _optional("agent.store.requests")
    if store is None or not hasattr(store, "list_requests"):
        return None
    found: list[Any] = store.list_requests(engine, child=child, since=period.start)
    out = []
    for r in found:
        moment = r.time if r.time.tzinfo else r.time.replace(tzinfo=UTC)
        if moment < period.due:
            out.append(
                Request(
                    moment.astimezone(tz),
                    str(r.kind),
                    str(r.status),
                    getattr(r, "app", None),
                    getattr(r, "site", None),
                    getattr(r, "asked_minutes", None),
                    str(getattr(r, "message", "") or ""),
                )
            )
    return tuple(sorted(out, key=lambda r: r.time))


def _budgets(engine: Engine, child: Child, period: Period, tz: tzinfo) -> tuple[BudgetWeek, ...]:
    """How each of the child's daily budgets went on the period's 7 days."""
    from agent.rules import budgets as rules
    from agent.rules.catalog import load_catalog
    from agent.rules.reasons import minutes_words
    from agent.store import budgets as store

    try:
        mine = store.list_budgets(engine, child.id)
    except NO_TABLE_YET:  # not migrated yet
        return ()
    if not mine:
        return ()
    catalog = load_catalog()
    categories = {a.id: a.category for a in catalog.apps.values()}
    asked = [r for r in _requests(engine, child.name, period, tz) or () if r.kind == "more_time"]
    yes = sum(1 for r in asked if r.status == "approved")
    out = []
    for b in mine:
        full = days = 0
        day = period.first_day
        while day <= period.last_day:
            allowed = rules.allowed_on(b, day)
            if allowed:
                days += 1
                if store.used_on(engine, b, child.name, categories, day, tz) >= allowed:
                    full += 1
            day += timedelta(days=1)
        if b.kind == "all":
            title = "Online time"
        elif b.kind == "app":
            app = catalog.get(b.target)
            title = app.name if app is not None else b.target
        else:
            title = b.target.replace("-", " ").capitalize()
        words = minutes_words(b.days[0]).removeprefix("an ").removeprefix("a ")
        out.append(BudgetWeek(title, words, full, days, len(asked), yes))
    return tuple(out)


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def _local(day: date, at: time, tz: Any) -> datetime:
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz)
