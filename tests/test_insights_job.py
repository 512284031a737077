"""The synthetic week through the real query-log writer into a real SQLite file, then the
insights job in chunks with an injected clock: exact events, exact summaries, idempotence,
restarts, crashes and a from-scratch cross-check of every rollup. The `box` tests run on
PostgreSQL too (its rows stored with a plain INSERT: the PostgreSQL writer is tested where it
lives)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import insights_reference as reference
import pytest
from sqlalchemy.engine import Engine

from agent.config import Config, RulesConfig
from agent.events import registry
from agent.insights.job import InsightsJob
from agent.rules.catalog import Catalog, load_catalog
from agent.rules.household import Household
from agent.store import events as event_store
from agent.store import rollup_writes, rollups
from agent.store.db import init_db, make_engine, sqlite_file
from agent.store.querylog import LogEntry, QueryLogWriter
from tests.storetools import both_stores, new_database, write_log

import synthweek as sw

CFG = Config(rules=RulesConfig(timezone="Europe/London"))
SAM_PHONE, SAM_TABLET = sw.SAM_PHONE.mac, sw.SAM_TABLET.mac
ALEX_PHONE, ALEX_LAPTOP = sw.ALEX_PHONE.mac, sw.ALEX_LAPTOP.mac

# (local time, kind, severity, child, device, app, what): every event of the week, in order.
EXPECTED = [
    ("Mon 07:05:00", "first_app", "notice", "Alex", ALEX_PHONE, "instagram", None),
    ("Mon 16:00:00", "first_app", "notice", "Sam", SAM_TABLET, "roblox", None),
    ("Mon 16:00:03", "bypass_suspected", "notice", "Alex", ALEX_LAPTOP, None, "canary"),
    ("Mon 17:00:00", "first_site", "info", "Alex", ALEX_LAPTOP, None, "bbc.co.uk"),
    ("Mon 17:00:00", "first_site", "info", "Alex", ALEX_LAPTOP, None, "wikipedia.org"),
    ("Mon 17:04:00", "first_site", "info", "Alex", ALEX_LAPTOP, None, "google.com"),
    ("Mon 17:30:00", "age_blocked", "notice", "Sam", SAM_PHONE, "tiktok", None),
    ("Mon 19:00:00", "first_site", "info", "Sam", SAM_PHONE, None, "bbc.co.uk"),
    ("Mon 20:00:00", "first_app", "info", "Alex", ALEX_PHONE, "youtube", None),
    ("Tue 19:00:00", "first_site", "info", "Sam", SAM_PHONE, None, "coolmathgames.com"),
    ("Wed 16:05:00", "first_app", "notice", "Alex", ALEX_PHONE, "discord", None),
    ("Thu 16:00:00", "first_app", "notice", "Sam", SAM_PHONE, "zoom", None),
    ("Thu 16:00:30", "video_chat", "info", "Sam", SAM_PHONE, "zoom", 20),
    ("Thu 19:37:07", "bypass_suspected", "notice", "Alex", ALEX_LAPTOP, None, "silent"),
    ("Fri 19:00:00", "first_site", "info", "Sam", SAM_PHONE, None, "wikimedia.org"),
    ("Fri 19:00:00", "first_site", "info", "Sam", SAM_PHONE, None, "wikipedia.org"),
    ("Fri 23:10:00", "late_night", "notice", "Sam", SAM_PHONE, "ometv", "Bedtime"),
    ("Fri 23:10:05", "random_video_chat", "alert", "Sam", SAM_PHONE, "ometv", True),
    ("Sat 14:00:00", "bypass_suspected", "alert", "Alex", ALEX_LAPTOP, None, "encrypted-dns"),
    # new devices are noticed by the jobs' device intake (tests/test_intake.py), not here
]
WHAT = {  # the detail that tells events of one kind apart
    "first_site": "site",
    "bypass_suspected": "signal",
    "video_chat": "minutes",
    "late_night": "schedule",
    "random_video_chat": "blocked",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def week(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> list[LogEntry]:
    """The week's rows (made once: generating needs a household, which ids make identical)."""
    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('gen') / 'gen.db'}")
    init_db(eng)
    return sw.generate(sw.build_household(eng), catalog)


class Box:
    """A fresh database with the family in it, fed through the real query-log writer (a SQLite
    file) or plain INSERTs (PostgreSQL)."""

    def __init__(self, url: str, catalog: Catalog) -> None:
        self.url, self.path, self.catalog = url, sqlite_file(url), catalog
        self.engine = make_engine(url)
        init_db(self.engine)
        self.household: Household = sw.build_household(self.engine)
        self.writer = None
        if self.path is not None:
            self.writer = QueryLogWriter(self.path, flush_interval=0.01)
            self.writer.start()

    def job(self, **kwargs: Any) -> InsightsJob:
        return InsightsJob(self.engine, self.catalog, CFG, **kwargs)

    def log(self, rows: list[LogEntry]) -> None:
        if self.writer is None:
            write_log(self.url, rows)
            return
        for row in rows:
            assert self.writer.submit(row)
        assert self.writer.flush()

    def replay(
        self,
        rows: list[LogEntry],
        job: InsightsJob,
        on_run: Callable[[Any], InsightsJob] | None = None,
    ) -> InsightsJob:
        """Log the week chunk by chunk, running the job at each run time."""
        for moment, chunk in sw.chunks(rows, sw.run_times()):
            self.log(chunk)
            job.run(self.household, sw.presence(moment), moment)
            if on_run is not None:
                job = on_run(moment) or job
        return job

    def close(self) -> None:
        if self.writer is not None:
            self.writer.stop()
        self.engine.dispose()


@pytest.fixture
def box(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path, catalog: Catalog):
    """A SQLite box; PostgreSQL too for a test marked `@both_stores`."""
    with new_database(request, store_kind, tmp_path) as url:
        found = Box(url, catalog)
        yield found
        found.close()


def seen(engine: Engine) -> list[tuple[Any, ...]]:
    out = []
    for e in event_store.list_events(engine, limit=1000)[::-1]:
        what = e.details.get(WHAT.get(str(e.kind), ""))
        when = e.time.astimezone(sw.TZ).strftime("%a %H:%M:%S")
        out.append((when, str(e.kind), str(e.severity), e.child, e.device, e.app, what))
    return out


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every table the job writes. Events without their ids: PostgreSQL's ids have gaps (a
    duplicate that ON CONFLICT skipped still took a number), SQLite's do not."""
    tables = ["activity_marks", "counted_minutes", "active_minutes", "insight_firsts"]
    tables += list(reference.COLUMNS)
    with engine.connect() as conn:
        found = {
            t: sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t}").all())
            for t in tables
        }
        events = conn.exec_driver_sql(f"SELECT {event_store._COLUMNS} FROM events").all()
    found["events"] = sorted(tuple(r)[1:] for r in events)
    return found


@both_stores
def test_week_events_exactly(box: Box, week: list[LogEntry]) -> None:
    box.replay(week, box.job(batch_size=997))
    assert seen(box.engine) == EXPECTED
    call = event_store.events_between(
        box.engine, "Sam", sw.at(3, 0), sw.at(4, 0), kinds=["video_chat"]
    )[0]
    assert call.details["start"].startswith("2026-11-19T16:00:30")
    assert call.details["end"].startswith("2026-11-19T16:19:")
    assert call.details["via"] == "app"
    alerts = event_store.unacknowledged_alerts(box.engine)
    assert [(e.kind, e.details["name"], e.details["blocked"]) for e in alerts] == [
        ("random_video_chat", "ome.tv", True),
        ("bypass_suspected", "dns.google", True),
    ]
    for e in event_store.list_events(box.engine, limit=1000):  # each detail has its field
        assert set(e.details) <= set(registry.spec(e.kind).detail_fields), e


@both_stores
def test_week_summaries_exactly(box: Box, week: list[LogEntry]) -> None:
    box.replay(week, box.job())
    monday = rollups.day_summary(box.engine, "Sam", sw.day(0))
    # Roblox 16:00-16:59 and the BBC 19:00-19:24; the 03:00 and 11:00 Roblox keep-alives and
    # the blocked TikTok do not count.
    assert (monday.minutes, monday.queries, monday.blocked) == (85, 190, 73)
    assert [(u.name, u.minutes, u.blocked) for u in monday.apps] == [
        ("roblox", 60, 1),
        ("tiktok", 0, 12),
    ]
    assert [(u.name, u.minutes) for u in monday.sites] == [("bbc.co.uk", 25)]
    assert [(b.rule.to_column(), b.count) for b in monday.blocked_by_reason] == [
        ("schedule:Bedtime", 61),
        ("age:tiktok", 12),
    ]
    assert monday.hours[16] == 60 and monday.hours[19] == 25 and sum(monday.hours) == 85
    assert monday.first_activity is not None and monday.last_activity is not None
    first, last = (t.astimezone(sw.TZ) for t in (monday.first_activity, monday.last_activity))
    assert (f"{first:%H:%M}", f"{last:%H:%M}") == ("16:00", "19:24")
    tuesday = rollups.day_summary(box.engine, "Sam", sw.day(1))
    assert [(u.name, u.minutes) for u in tuesday.apps] == [("roblox", 60)]  # not 61
    thursday = rollups.day_summary(box.engine, "Sam", sw.day(3))
    assert [(u.name, u.minutes) for u in thursday.apps] == [("roblox", 30), ("zoom", 20)]

    alex = rollups.week_summary(box.engine, "Alex", sw.MONDAY)
    assert [d.minutes for d in alex.days] == [60, 140, 60, 70, 50, 90, 60]
    assert (alex.minutes, alex.previous_week_minutes, alex.change_minutes) == (530, 0, 530)
    # An evening of YouTube on Tuesday: 19:00 to 20:59.
    assert rollups.day_summary(box.engine, "Alex", sw.day(1)).apps[0].minutes == 120
    assert [(u.name, u.minutes) for u in alex.apps] == [
        ("youtube", 240),
        ("discord", 170),
        ("instagram", 100),
    ]
    assert [(b.rule.to_column(), b.count) for b in alex.blocked_by_reason] == [
        ("schedule:Bedtime", 184),
        ("protection:bypass", 6),
    ]
    assert alex.hours[20] == 120 and alex.hours[7] == 100 and sum(alex.hours) == 530
    next_week = rollups.week_summary(box.engine, "Alex", sw.MONDAY + timedelta(days=7))
    assert (next_week.minutes, next_week.previous_week_minutes) == (0, 530)


@both_stores
def test_rollups_match_a_from_scratch_computation(box: Box, week: list[LogEntry]) -> None:
    box.replay(week, box.job(batch_size=333))
    assert reference.stored(box.engine) == reference.rollups(week, box.catalog, sw.TZ)


def test_running_again_changes_nothing(box: Box, week: list[LogEntry]) -> None:
    job = box.replay(week, box.job())
    before = dump(box.engine)
    for _ in range(2):
        report = job.run(box.household, sw.presence(sw.END), sw.END)
        assert (report.rows, report.events, report.caught_up) == (0, 0, True)
    assert dump(box.engine) == before


@both_stores
def test_a_restart_mid_week_loses_nothing(
    box: Box, week: list[LogEntry], tmp_path: Path, catalog: Catalog
) -> None:
    straight = Box(f"sqlite:///{tmp_path / 'straight.db'}", catalog)
    try:
        straight.replay(week, straight.job())
        expected = dump(straight.engine)
    finally:
        straight.close()

    def restart(moment: Any) -> InsightsJob | None:
        if moment == sw.at(2, 12):  # Wednesday noon: a new process, a new engine
            box.engine.dispose()
            box.engine = make_engine(box.url)
            return box.job()
        return None

    box.replay(week, box.job(), on_run=restart)
    assert dump(box.engine) == expected
    assert seen(box.engine) == EXPECTED


def test_one_big_run_gives_the_same_rollups(box: Box, week: list[LogEntry]) -> None:
    job = box.job(batch_size=500)
    job.run(box.household, {}, sw.at(0, 0))  # the box was running before the week began
    box.log(week)
    report = job.run(box.household, sw.presence(sw.END), sw.END)
    assert (report.rows, report.batches, report.caught_up) == (len(week), 9, True)
    assert reference.stored(box.engine) == reference.rollups(week, box.catalog, sw.TZ)
    # Only the silence needs the job to run while it happens.
    assert seen(box.engine) == [e for e in EXPECTED if e[-1] != "silent"]


def test_max_batches_leaves_the_rest_for_next_time(box: Box, week: list[LogEntry]) -> None:
    box.log(week)
    job = box.job(batch_size=1000, max_batches=2)
    first = job.run(box.household, {}, sw.END)
    assert (first.rows, first.caught_up) == (2000, False)
    while job.run(box.household, {}, sw.END).rows:
        pass
    assert reference.stored(box.engine) == reference.rollups(week, box.catalog, sw.TZ)


@both_stores
def test_a_crash_mid_batch_rolls_back_cleanly(
    box: Box, week: list[LogEntry], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = box.job(batch_size=700)
    job.run(box.household, {}, sw.at(0, 0))
    box.log(week)
    calls = {"n": 0}
    real = rollup_writes.add_blocked

    def failing(conn: Any, deltas: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk unplugged")
        real(conn, deltas)

    monkeypatch.setattr(rollup_writes, "add_blocked", failing)
    with pytest.raises(OSError):
        job.run(box.household, sw.presence(sw.END), sw.END)
    assert job.run(box.household, sw.presence(sw.END), sw.END).caught_up
    assert reference.stored(box.engine) == reference.rollups(week, box.catalog, sw.TZ)
    assert seen(box.engine) == [e for e in EXPECTED if e[-1] != "silent"]


def test_history_from_before_the_first_run_is_learned_quietly(
    box: Box, week: list[LogEntry]
) -> None:
    box.log(week)
    later = sw.END + timedelta(days=3)  # the job first runs three days after the week
    box.job().run(box.household, {}, later)
    kinds = {k for _, k, *_ in seen(box.engine)}
    assert kinds == {
        "bypass_suspected",
        "age_blocked",
        "video_chat",
        "late_night",
        "random_video_chat",
    }
    # ...but it knows what the children used, so a use next week is not "first".
    with box.engine.connect() as conn:
        used = conn.exec_driver_sql("SELECT count(*) FROM insight_firsts").scalar_one()
    assert used == 12


def test_the_summary_for_a_day_with_nothing_is_empty(box: Box) -> None:
    box.job().run(box.household, {}, sw.END)
    empty = rollups.day_summary(box.engine, "Sam", date(2026, 1, 1))
    assert (empty.minutes, empty.apps, empty.first_activity, sum(empty.hours)) == (0, (), None, 0)


def test_a_batch_another_run_already_did_is_dropped(box: Box, week: list[LogEntry]) -> None:
    from agent.insights.detect import Context
    from agent.store import insight_state

    first, second = box.job(), box.job()
    first.run(box.household, {}, sw.at(0, 0))
    box.log(week)
    stale = insight_state.peek_cursor(box.engine)
    assert stale is not None
    rows = insight_state.read_rows(box.engine, stale.last_id, 500)
    second.run(box.household, {}, sw.END)  # gets there first
    ctx = Context(box.household, first.classifier, first.tz, "youngest", stale.quiet_before)
    moved, added = first._batch(rows, stale, ctx)
    assert (moved.last_id, added) == (len(week), 0)  # ids count from 1 in a fresh file
    assert reference.stored(box.engine) == reference.rollups(week, box.catalog, sw.TZ)


def omegle_visit(box: Box, moment: Any) -> LogEntry:
    """Sam's phone asking for omegle.com at `moment`, logged as the DNS server logs it."""
    from agent.rules.decide import decide

    policy = sw.make_policy(box.household, box.catalog)
    d = decide(policy, sw.SAM_PHONE.ip, "omegle.com", 1, moment)
    assert d.action.value == "block" and d.app == "omegle"
    head = (sw.SAM_PHONE.ip, SAM_PHONE, d.child, "omegle.com", "A", d.action.value)
    return LogEntry(
        moment.timestamp(), *head, *d.columns[1:3], d.category, d.app, None, None, False
    )


def omegle_alerts(engine: Engine) -> list[Any]:
    return [
        e
        for e in event_store.list_events(engine, limit=1000)
        if str(e.kind) == "random_video_chat" and e.app == "omegle"
    ]


@pytest.mark.parametrize("how", ["pruned empty", "deleted by hand"])
def test_ids_starting_again_from_1_do_not_hide_new_rows(
    box: Box, week: list[LogEntry], how: str
) -> None:
    """The box was off longer than retention_days: the log is pruned to empty, the next row
    gets id 1, far below the cursor. A child's visit to omegle.com still raises the alert."""
    from agent.store import insight_state
    from agent.store.querylog import prune_query_log

    job = box.replay(week, box.job())
    before = insight_state.peek_cursor(box.engine)
    assert before is not None and before.last_id == len(week) > 100
    back = sw.END + timedelta(days=40)
    if how == "pruned empty":
        removed = prune_query_log(box.engine, back.timestamp() - CFG.store.retention_days * 86_400)
        assert removed == len(week)
    else:
        with box.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM query_log")
    visit = omegle_visit(box, back - timedelta(minutes=5))
    box.log([visit])
    with box.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT id FROM query_log").scalars().all() == [1]
    assert omegle_alerts(box.engine) == []
    report = job.run(box.household, {}, back)
    assert report.rows == 1 and report.cursor == 1
    alerts = omegle_alerts(box.engine)
    assert len(alerts) == 1 and alerts[0].child == "Sam"
    assert str(alerts[0].severity) == "alert"
    # and on from there as usual: the next visit is the next row, nothing twice
    again = job.run(box.household, {}, back + timedelta(minutes=1))
    assert again.rows == 0 and len(omegle_alerts(box.engine)) == 1


@both_stores
def test_rows_pruned_below_the_cursor_are_not_read_twice(box: Box, week: list[LogEntry]) -> None:
    """Retention pruning old rows (ids below the cursor, not reset) changes nothing."""
    from agent.store.querylog import prune_query_log

    job = box.replay(week, box.job())
    events = len(seen(box.engine))
    prune_query_log(box.engine, sw.at(3, 0).timestamp())
    report = job.run(box.household, {}, sw.END + timedelta(minutes=5))
    assert report.rows == 0 and report.cursor == len(week)
    assert len(seen(box.engine)) == events


def test_the_cursors_own_row_deleted_is_not_a_reset(box: Box, week: list[LogEntry]) -> None:
    """A parent deleting a child's history can take the cursor's row with it; rows above it
    keep their ids, so the job reads on from the same place, nothing twice."""
    job = box.replay(week[:-50], box.job())
    cursor = len(week) - 50
    box.log(week[-50:])
    with box.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM query_log WHERE id = {cursor}")
    report = job.run(box.household, {}, sw.END)
    assert report.rows == 50 and report.cursor == len(week)


def test_after_a_flood_of_forged_addresses_a_batch_reads_only_its_own_devices(
    tmp_path: Path, catalog: Catalog
) -> None:
    """A flood from forged source addresses leaves a device row for each: 30,000 here. A run
    over a few new rows reads the state of the devices in them, not all 30,000 (~15 MB of
    objects a batch, every batch, before), and still keeps each device's state."""
    import tracemalloc

    url = f"sqlite:///{tmp_path / 'hr.db'}"
    engine = make_engine(url)
    init_db(engine)
    forged = [(f"10.9.{i // 250}.{i % 250}", 1.0) for i in range(30_000)]
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO insight_devices (device, client, first_ts, last_ts) VALUES (?, ?, ?, ?)",
            [(ip, ip, ts, ts) for ip, ts in forged],
        )
    start = 1_800_000_000.0
    rows = [
        LogEntry(start + i, ip, None, None, "www.bbc.co.uk", "A", "allow", "", "")
        for i, ip in enumerate(["192.168.1.20"] * 5 + ["10.9.0.7"] * 5)
    ]
    write_log(url, rows)
    job = InsightsJob(engine, catalog, CFG)
    now = datetime.fromtimestamp(start + 60, ZoneInfo("Europe/London"))
    tracemalloc.start()
    try:
        report = job.run(Household(), {}, now)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.rows == 10
    assert peak < 2_000_000, f"{peak:,} bytes at most during the run"
    with engine.connect() as conn:
        last = dict(conn.exec_driver_sql("SELECT device, last_ts FROM insight_devices").all())
    assert len(last) == 30_001
    assert last["192.168.1.20"] == start + 4 and last["10.9.0.7"] == start + 9
    assert last["10.9.0.8"] == 1.0
    engine.dispose()
