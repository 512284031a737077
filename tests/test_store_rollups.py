"""The rollup tables on a real SQLite file: deltas add up, summaries read them back as plain
data, and retention, export and forgetting touch only what they should."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from agent.store import insight_state, privacy, rollup_writes, rollups
from agent.store.db import init_db, make_engine
from agent.store.querylog import LogEntry
from tests.storetools import write_log

MON = date(2026, 11, 16)


def minute(day: date, hour: int, m: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, m, tzinfo=UTC).timestamp() // 60)


@pytest.fixture
def engine(store_url: str) -> Engine:
    eng = make_engine(store_url)
    init_db(eng)
    return eng


def add_day(engine: Engine, child: str, day: date, apps: dict[str, tuple[int, int]]) -> None:
    """Give `child` on `day`: app -> (start hour, minutes), counted with real writes."""
    with insight_state.immediate(engine) as conn:
        usage: dict[tuple[str, str, int, str, str], list[int]] = {}
        hours: dict[tuple[str, str, int], list[int]] = {}
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        for app, (hour, length) in apps.items():
            counted = {minute(day, hour) + i for i in range(length)}
            for m in rollup_writes.add_counted(conn, child, "app", app, counted):
                h = datetime.fromtimestamp(m * 60, UTC).hour
                usage.setdefault((child, day.isoformat(), h, "app", app), [0, 3, 1])[0] += 1
            for m in rollup_writes.add_active(conn, child, counted):
                h = datetime.fromtimestamp(m * 60, UTC).hour
                hours.setdefault((child, day.isoformat(), h), [0, 3, 1])[0] += 1
                lo, hi = spans.get((child, day.isoformat()), (m, m))
                spans[(child, day.isoformat())] = (min(lo, m), max(hi, m))
        rollup_writes.add_usage(conn, usage)
        rollup_writes.add_child_totals(conn, hours, spans)
        rollup_writes.add_blocked(conn, {(child, day.isoformat(), "age:tiktok"): 4})


def test_day_summary_reads_back_the_deltas(engine: Engine) -> None:
    add_day(engine, "Sam", MON, {"roblox": (16, 60), "youtube-kids": (16, 30)})
    add_day(engine, "Sam", MON, {"minecraft": (19, 15)})  # a later batch adds to the day
    day = rollups.day_summary(engine, "Sam", MON)
    assert day.minutes == 75  # roblox and youtube-kids overlap: 16:00-16:59, then 19:00-19:14
    assert [(u.name, u.minutes) for u in day.apps] == [
        ("roblox", 60),
        ("youtube-kids", 30),
        ("minecraft", 15),
    ]
    assert day.first_activity == datetime(2026, 11, 16, 16, 0, tzinfo=UTC)
    assert day.last_activity == datetime(2026, 11, 16, 19, 14, tzinfo=UTC)
    assert day.hours[16] == 60 and day.hours[19] == 15 and sum(day.hours) == 75
    assert [(b.rule.to_column(), b.count) for b in day.blocked_by_reason] == [("age:tiktok", 8)]
    assert rollups.day_summary(engine, "Alex", MON).minutes == 0


def test_the_same_minutes_again_count_once(engine: Engine) -> None:
    add_day(engine, "Sam", MON, {"roblox": (16, 10)})
    with insight_state.immediate(engine) as conn:
        counted = {minute(MON, 16) + i for i in range(12)}
        assert rollup_writes.add_counted(conn, "Sam", "app", "roblox", counted) == {
            minute(MON, 16, 10),
            minute(MON, 16, 11),
        }
        assert rollup_writes.add_active(conn, "Sam", counted) == {
            minute(MON, 16, 10),
            minute(MON, 16, 11),
        }


def test_week_summary_series_and_the_week_before(engine: Engine) -> None:
    add_day(engine, "Sam", MON - timedelta(days=3), {"roblox": (10, 40)})  # the Friday before
    for n, length in enumerate((30, 0, 45, 0, 20, 90, 10)):
        if length:
            add_day(engine, "Sam", MON + timedelta(days=n), {"roblox": (16, length)})
    week = rollups.week_summary(engine, "Sam", MON)
    assert [d.minutes for d in week.days] == [30, 0, 45, 0, 20, 90, 10]
    assert (week.minutes, week.previous_week_minutes, week.change_minutes) == (195, 40, 155)
    assert week.apps[0].name == "roblox" and week.apps[0].minutes == 195
    assert week.hours[16] == 30 + 45 + 20 + 60 + 10 and week.hours[17] == 30
    assert (week.blocked, week.queries) == (6, 18)  # one hour key adds (3, 1) here
    assert [(b.rule.to_column(), b.count) for b in week.blocked_by_reason] == [("age:tiktok", 20)]
    series = rollups.activity_series(engine, "Sam", MON - timedelta(days=3), 10)
    assert [d.minutes for d in series] == [40, 0, 0, 30, 0, 45, 0, 20, 90, 10]
    assert series[0].day == MON - timedelta(days=3)
    assert rollups.hour_profile(engine, "Sam", MON, 7) == week.hours
    assert rollups.children_with_activity(engine) == ["Sam"]


def test_summary_json_shapes(engine: Engine) -> None:
    add_day(engine, "Sam", MON, {"roblox": (16, 60)})
    day = rollups.summary_json(rollups.day_summary(engine, "Sam", MON))
    assert day["day"] == "2026-11-16" and day["minutes"] == 60
    assert day["first_activity"] == "2026-11-16T16:00:00+00:00"
    assert day["apps"] == [{"name": "roblox", "minutes": 60, "queries": 3, "blocked": 1}]
    week = rollups.summary_json(rollups.week_summary(engine, "Sam", MON))
    assert week["week"] == "2026-W47" and len(week["days"]) == 7 and len(week["hours"]) == 24


def test_prune_keeps_recent_history(engine: Engine) -> None:
    old, recent = MON - timedelta(days=400), MON
    add_day(engine, "Sam", old, {"roblox": (16, 30)})
    add_day(engine, "Sam", recent, {"roblox": (16, 30)})
    with insight_state.immediate(engine) as conn:
        assert rollup_writes.prune_rollups(conn, (MON - timedelta(days=365)).isoformat()) == 5
        assert rollup_writes.prune_detail(conn, minute(MON, 0)) == 60  # counted + active
    assert rollups.activity_series(engine, "Sam", old, 1)[0].minutes == 0
    assert rollups.day_summary(engine, "Sam", recent).minutes == 30


def test_export_and_forget_a_child(engine: Engine, store_url: str) -> None:
    add_day(engine, "Sam", MON, {"roblox": (16, 30)})
    add_day(engine, "Alex", MON, {"discord": (18, 20)})
    write_log(
        store_url,
        [
            LogEntry(1.8e9 + i, "192.168.1.2", None, child, "x.example", "A", "allow", "", "")
            for i, child in enumerate(["Sam", "Sam", "Alex", None])
        ],
    )
    exported = privacy.export_child(engine, "Sam")
    assert exported["rollups"]["child_daily"][0]["minutes"] == 30
    assert len(exported["query_log"]) == 2 and "child" not in exported["rollups"]["usage_daily"][0]
    assert privacy.has_data(engine, "Sam") and not privacy.has_data(engine, "Nobody")
    removed = privacy.forget_child(engine, "Sam")
    assert removed["query_log"] == 2 and removed["activity"] > 0
    assert not privacy.has_data(engine, "Sam")
    assert rollups.day_summary(engine, "Alex", MON).minutes == 20  # Alex's history stays
    assert len(privacy.export_child(engine, "Alex")["query_log"]) == 1
