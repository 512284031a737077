"""Which week a digest is for, and a child's week read back from a real SQLite file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from agent.digest import collect
from agent.digest.collect import due_in_week, latest_due, period_for
from agent.events import Event, EventKind, Severity
from agent.store import insight_state, rollup_writes
from agent.store.db import init_db, make_engine
from agent.store.events import record_events
from agent.store.household import add_child, add_device, get_child_by_name

TZ = ZoneInfo("Europe/London")
SUN_6PM = time(18, 0)


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


@pytest.mark.parametrize(
    ("now", "day", "at", "due"),
    [
        (local(2026, 11, 22, 18, 0), 6, SUN_6PM, local(2026, 11, 22, 18, 0)),  # on the dot
        (local(2026, 11, 22, 17, 59), 6, SUN_6PM, local(2026, 11, 15, 18, 0)),  # a minute early
        (local(2026, 11, 25, 9, 0), 6, SUN_6PM, local(2026, 11, 22, 18, 0)),  # Wednesday
        (local(2026, 11, 23, 7, 0), 0, time(8), local(2026, 11, 16, 8, 0)),  # Monday 08:00
        (local(2026, 11, 23, 8, 0), 0, time(8), local(2026, 11, 23, 8, 0)),
        (local(2026, 3, 29, 18, 30), 6, SUN_6PM, local(2026, 3, 29, 18, 0)),  # clocks went forward
    ],
)
def test_latest_due(now: datetime, day: int, at: time, due: datetime) -> None:
    assert latest_due(now, day, at) == due


def test_an_evening_digest_covers_the_week_to_its_day() -> None:
    p = period_for(local(2026, 11, 22, 18, 0))
    assert (p.first_day, p.last_day, p.week) == (date(2026, 11, 16), date(2026, 11, 22), "2026-W47")
    assert p.start == local(2026, 11, 15, 18, 0) and p.label == "16–22 November 2026"


def test_a_morning_digest_covers_the_seven_days_before() -> None:
    p = period_for(local(2026, 11, 23, 8, 0))
    assert (p.first_day, p.last_day, p.week) == (date(2026, 11, 16), date(2026, 11, 22), "2026-W48")


def test_the_week_across_a_clock_change_is_seven_calendar_days() -> None:
    p = period_for(local(2026, 3, 29, 18, 0))  # British Summer Time starts at 01:00 that day
    assert p.start == local(2026, 3, 22, 18, 0)
    assert p.due - p.start == timedelta(days=7)  # wall clock: aware arithmetic in one zone
    assert p.due.timestamp() - p.start.timestamp() == 7 * 86_400 - 3600


def test_due_in_a_named_week() -> None:
    assert due_in_week("2026-W47", 6, SUN_6PM, TZ) == local(2026, 11, 22, 18, 0)
    assert due_in_week("2026-W01", 0, time(8), TZ) == local(2025, 12, 29, 8, 0)
    assert period_for(local(2026, 11, 22, 18)).label.startswith("16–22")
    assert period_for(local(2026, 12, 3, 18)).label == "27 November – 3 December 2026"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'collect.db'}")
    init_db(eng)
    add_child(eng, "Sam", date(2014, 11, 20))
    sam = get_child_by_name(eng, "Sam")
    assert sam is not None
    add_device(eng, mac="aa:bb:cc:dd:ee:ff", name="Sam's tablet", owner="child", child_id=sam.id)
    return eng


def test_a_childs_week_from_the_store(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collect, "_optional", lambda name: None)  # a box without requests
    period = period_for(local(2026, 11, 22, 18, 0))
    before, inside, after = (
        local(2026, 11, 15, 17, 59),
        local(2026, 11, 18, 16, 0),
        local(2026, 11, 22, 18, 0),
    )
    record_events(
        engine,
        [
            Event(t, EventKind.FIRST_APP, Severity.INFO, "Sam", "aa:bb:cc:dd:ee:ff", app)
            for t, app in ((before, "roblox"), (inside, "minecraft"), (after, "discord"))
        ],
    )
    with insight_state.immediate(engine) as conn:
        day = "2026-11-18"
        rollup_writes.add_usage(conn, {("Sam", day, 16, "app", "minecraft"): [50, 100, 0]})
        rollup_writes.add_child_totals(conn, {("Sam", day, 16): [50, 100, 0]}, {})
    sam = get_child_by_name(engine, "Sam")
    assert sam is not None
    week = collect.child_week(engine, sam, period, TZ)
    assert [e.app for e in week.events] == ["minecraft"]
    assert week.events[0].time == inside and week.events[0].time.tzinfo == TZ
    assert week.age == 12  # on the last day of the week (the birthday was on the Friday)
    assert week.summary.minutes == 50 and week.summary.apps[0].name == "minecraft"
    assert week.requests is None
    assert week.devices == {"aa:bb:cc:dd:ee:ff": "Sam's tablet"}


@dataclass
class FakeRequest:
    time: datetime
    kind: str
    status: str
    app: str | None = None
    site: str | None = None
    asked_minutes: int | None = None
    message: str = ""


def test_requests_come_from_the_request_store_when_there_is_one(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    period = period_for(local(2026, 11, 22, 18, 0))
    asked: list[dict[str, Any]] = []

    def list_requests(engine: Engine, child: str, since: datetime) -> list[FakeRequest]:
        asked.append({"child": child, "since": since})
        return [
            FakeRequest(datetime(2026, 11, 22, 18, 30, tzinfo=UTC), "unblock", "pending"),
            FakeRequest(
                datetime(2026, 11, 19, 17, 0, tzinfo=UTC), "more_time", "approved", asked_minutes=30
            ),  # fmt: skip
        ]

    monkeypatch.setattr(
        collect, "_optional", lambda n: SimpleNamespace(list_requests=list_requests)
    )
    sam = get_child_by_name(engine, "Sam")
    assert sam is not None
    week = collect.child_week(engine, sam, period, TZ)
    assert asked == [{"child": "Sam", "since": period.start}]
    assert week.requests is not None and len(week.requests) == 1  # the other is after the due time
    (r,) = week.requests
    assert (r.kind, r.status, r.minutes, r.time.tzinfo) == ("more_time", "approved", 30, TZ)


def test_how_a_budget_went_over_the_week(engine: Engine) -> None:
    from agent.digest.words import budget_line
    from agent.household import requests
    from agent.rules import budgets as rules
    from agent.store import budgets

    sam = get_child_by_name(engine, "Sam")
    assert sam is not None
    budgets.set_budget(engine, sam.id, "category", "gaming", rules.week_of(60, 120))
    period = period_for(local(2026, 11, 22, 18, 0))
    played = {0: 60, 1: 75, 2: 30, 3: 60, 5: 120, 6: 50}  # minutes after first_day, by day
    with insight_state.immediate(engine) as conn:
        for n, minutes in played.items():
            day = period.first_day + timedelta(days=n)
            start = datetime.combine(day, time(16), TZ)
            first = int(start.timestamp() // 60)
            app = "roblox" if n % 2 else "minecraft"  # the category counts both
            rollup_writes.add_counted(conn, "Sam", "app", app, set(range(first, first + minutes)))
    when = datetime.combine(period.first_day + timedelta(days=1), time(17, 30), TZ)
    yes = requests.add_request(engine, sam.id, "more_time", when, minutes=15)
    requests.decide_request(engine, yes.id, True, None, when)
    no = requests.add_request(engine, sam.id, "more_time", when + timedelta(days=1), minutes=15)
    requests.decide_request(engine, no.id, False, None, when + timedelta(days=1))
    week = collect.child_week(engine, sam, period, TZ)
    (went,) = week.budgets
    assert (went.full_days, went.days, went.asked, went.yes) == (4, 7, 2, 1)
    assert budget_line(went) == (
        "Gaming: the whole hour on 4 days of 7; asked for more twice, you said yes once"
    )
