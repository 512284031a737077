"""New devices taken in at a bounded rate, and what the parent hears: the token bucket with
an injected clock, the events it makes, and the jobs' intake against the real DNS with
forged source addresses (many more on the real processes: tests/test_forged_sources.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from dnslib import DNSRecord

from agent import config as config_mod
from agent.events import EventKind, Severity
from agent.ops.intake import BURST, Intake, events
from agent.rules.household import Device
from agent.store import count_rows
from agent.store import household as store
from agent.store.events import list_events
from agent.store.household_devices import Clash, Seen

from agenttools import RunningAgent, until, write_config
from dnstools import ForgedSender, Upstream, forged_sources

NOW = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_handful_at_once_then_a_few_a_minute() -> None:
    clock = Clock()
    intake = Intake(per_minute=5, burst=10, clock=clock)
    assert intake.room() == 10
    intake.took(10)
    assert intake.room() == 0
    clock.now += 30
    assert intake.room() == 2  # 5 a minute
    intake.took(2)
    clock.now += 3600
    assert intake.room() == 10  # never more than the burst


def test_events_one_flood_alert_a_day_and_a_notice_per_recorded_device() -> None:
    laptop = Device(3, ip="192.168.1.50", name="Mum's laptop", owner="adult")
    added = (Device(7, mac="02:00:00:00:00:07", ip="192.168.1.7", last_seen=NOW),)
    clash = Clash(laptop, "192.168.1.50", "02:00:00:00:00:66", NOW.timestamp())
    made = events(Seen(added, 500, (clash,)), NOW)
    kinds = [(k.event.kind, k.event.severity, k.key) for k in made]
    assert kinds == [
        (EventKind.NEW_DEVICE, Severity.NOTICE, "new_device:02:00:00:00:00:07"),
        (EventKind.ADDRESS_FLOOD, Severity.ALERT, "address_flood:2026-11-20"),
        (EventKind.ADDRESS_CLASH, Severity.ALERT, "address_clash:3:02:00:00:00:00:66"),
    ]
    later = events(Seen((), 900, ()), NOW + timedelta(hours=2))
    assert [k.key for k in later] == ["address_flood:2026-11-20"]  # the same alert: deduped
    assert events(Seen((), 0, ()), NOW) == []


def test_a_flood_read_over_several_runs_is_told_at_its_full_size(tmp_path) -> None:
    """The devices-seen job may first read a flood while it is starting: the day's one alert
    then grows with every run that skips more addresses, so the parent reads its real size."""
    from agent.ops.intake import record
    from agent.store.db import init_db, make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'hr.db'}")
    init_db(engine)
    added = (Device(7, mac="02:00:00:00:00:07", ip="192.168.1.7", last_seen=NOW),)
    assert record(engine, Seen(added, 454, ()), NOW) == 2  # the newcomer and the alert
    assert record(engine, Seen((), 150_000, ()), NOW + timedelta(seconds=15)) == 0
    assert record(engine, Seen((), 49_546, ()), NOW + timedelta(seconds=30)) == 0
    floods = [e for e in list_events(engine) if e.kind == EventKind.ADDRESS_FLOOD]
    assert len(floods) == 1 and floods[0].details["skipped"] == 200_000
    assert record(engine, Seen((), 7, ()), NOW + timedelta(days=1)) == 1  # a new day, a new one


def logged(running: RunningAgent) -> int:
    running.agent.writer.flush(1)
    return count_rows(running.agent.cfg.database_path)


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


def test_forged_sources_become_a_handful_of_devices_and_one_alert(tmp_path, upstream) -> None:
    cfg = config_mod.load(write_config(tmp_path, upstream.address))
    with RunningAgent(cfg) as running:
        engine = running.engine
        store.add_child(engine, "Sam", date(2015, 5, 1))
        sender = ForgedSender(running.port)
        packet = DNSRecord.question("example.com").pack()
        for source in forged_sources(300):
            sender.send(packet, source)
        until(lambda: logged(running) >= 300, 10.0)
        assert running.jobs.record_seen_devices() == BURST
        for source in forged_sources(300, "127.17.0.1"):  # a second wave, a run later
            sender.send(packet, source)
        sender.close()
        until(lambda: logged(running) >= 600, 10.0)
        later = running.jobs.record_seen_devices()
        assert later <= 1  # the bucket refills slowly
        found = list_events(engine, limit=1000)
    assert len(store.list_devices(engine)) <= BURST + 1
    assert sum(e.kind == "new_device" for e in found) <= BURST + 1
    (flood,) = [e for e in found if e.kind == "address_flood"]
    # one alert for the day, counting both waves: every address not recorded one by one
    assert flood.severity == "alert" and flood.details["skipped"] == 600 - BURST - later
