"""One box at a time does the household's jobs (agent.ops.leader), with a clock the test moves: the
default lease hands the jobs over within a minute of the holder going quiet, and never to two
boxes at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from agent.config import JobsConfig
from agent.ops.jobs import HOUSEHOLD_JOBS, Jobs
from agent.ops.leader import HouseholdLease
from agent.store import lease as store
from agent.store.db import make_engine
from agent.store.migrate import migrate

T0 = 1_800_000_000.0


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'two-boxes.db'}")
    migrate(engine)
    return engine


def two_boxes(engine: Engine, clock: Clock) -> tuple[HouseholdLease, HouseholdLease]:
    """Two jobs processes with the default lease times (30 s, renewed every 10 s)."""
    kitchen = HouseholdLease(engine, JobsConfig(box_name="kitchen"), clock=clock)
    hall = HouseholdLease(engine, JobsConfig(box_name="hall"), clock=clock)
    return kitchen, hall


def test_with_the_defaults_the_other_box_takes_over_within_a_minute(engine: Engine) -> None:
    """Both renew on their own schedules (every 10 s, a little apart); the kitchen box stops
    (killed, or hung) just after a renewal, the worst moment; the hall takes over in time."""
    clock = Clock()
    kitchen, hall = two_boxes(engine, clock)
    assert kitchen.renew() and not hall.renew()
    kitchen_next, hall_next, died = T0 + 10, T0 + 3, T0 + 40.001
    took_over = None
    while clock.t < T0 + 200 and took_over is None:
        clock.t = round(clock.t + 0.5, 3)
        if clock.t >= kitchen_next and clock.t < died:
            kitchen_next += 10
            assert kitchen.renew()
        if clock.t >= hall_next:
            hall_next += 10
            if hall.renew():
                took_over = clock.t
        assert not (kitchen.holding and hall.holding), f"both at {clock.t - T0:.1f}s"
    assert took_over is not None
    last_renewal = T0 + 40
    assert took_over - last_renewal <= 60  # the promise to parents
    assert took_over - last_renewal >= 30  # and not before the kitchen's lease ran out
    assert not kitchen.holding  # the kitchen box, if it comes back, stands by
    assert not kitchen.renew() and store.current(engine, now=clock.t).box == "hall"  # type: ignore[union-attr]


def test_a_box_that_cannot_renew_stops_before_the_other_can_start(engine: Engine) -> None:
    """The holder counts its lease from before it asked, so by its own clock its lease ends no
    later than the database's: it stops starting household jobs before the other box may."""
    clock = Clock()
    kitchen, hall = two_boxes(engine, clock)
    assert kitchen.renew()
    clock.t = T0 + 29.99
    assert kitchen.holding and not hall.renew()
    clock.t = T0 + 30
    assert not kitchen.holding  # its own reckoning: over
    assert hall.renew() and hall.holding


def test_household_jobs_run_only_while_holding_and_never_twice_at_once(engine: Engine) -> None:
    clock = Clock()
    kitchen, hall = two_boxes(engine, clock)
    runs: list[str] = []

    def job(who: str) -> None:
        runs.append(who)

    k = kitchen.only_while_holding("digests", lambda: job("kitchen"))
    h = hall.only_while_holding("digests", lambda: job("hall"))
    kitchen.renew(), hall.renew()
    k(), h()
    assert runs == ["kitchen"]

    inner: list[object] = []
    nested = kitchen.only_while_holding("alerts", lambda: inner.append(nested()))
    nested()
    assert inner == [None]  # a run while one is under way does nothing


def test_a_change_of_holder_calls_the_takeover_and_standby_hooks(engine: Engine) -> None:
    clock = Clock()
    kitchen, hall = two_boxes(engine, clock)
    said: list[str] = []
    hall.when_gained(lambda: said.append("hall takes over"))
    kitchen.when_lost(lambda: said.append("kitchen stands by"))
    kitchen.when_gained(lambda: said.append("kitchen takes over"))
    kitchen.renew(), hall.renew()
    clock.t += 31
    hall.renew(), kitchen.renew()
    assert said == ["kitchen takes over", "hall takes over", "kitchen stands by"]


def test_a_clean_stop_hands_over_at_the_next_renewal(engine: Engine) -> None:
    clock = Clock()
    kitchen, hall = two_boxes(engine, clock)
    kitchen.renew()
    kitchen.close()
    clock.t += 1
    assert hall.renew() and store.current(engine, now=clock.t).box == "hall"  # type: ignore[union-attr]


def test_which_jobs_are_the_households(tmp_path: Path) -> None:
    from agent import config as config_mod

    cfg = config_mod.parse(
        {"store": {"url": f"sqlite:///{tmp_path / 'x.db'}"}, "dhcp": {"enabled": True}},
        "t.toml",
        tmp_path,
    )
    names = {name for name, _, _ in Jobs(cfg).jobs()}
    assert HOUSEHOLD_JOBS & names == {
        "devices seen", "insights", "budgets", "device names (mDNS)", "retention",
        "weekly digests", "alert emails",
    }  # fmt: skip
    assert names - HOUSEHOLD_JOBS == {"DHCP leases", "blocklist refresh"}  # each box its own


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"lease_seconds": 0.5}, "jobs.lease_seconds"),
        ({"lease_seconds": 10, "lease_renew_seconds": 6}, "jobs.lease_renew_seconds"),
        ({"lease_renew_seconds": 0}, "jobs.lease_renew_seconds"),
    ],
)
def test_lease_times_that_would_hand_the_jobs_over_by_mistake_are_refused(
    tmp_path: Path, keys: dict, problem: str
) -> None:
    from agent import config as config_mod

    with pytest.raises(config_mod.ConfigError, match=problem):
        config_mod.parse({"jobs": keys}, "t.toml", tmp_path)


def test_a_holder_that_loses_the_database_keeps_the_jobs_only_until_its_lease_ends(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    kitchen, _ = two_boxes(engine, clock)
    assert kitchen.renew()
    with engine.begin() as conn:  # the database stops answering about the lease
        conn.exec_driver_sql("ALTER TABLE job_lease RENAME TO job_lease_away")
    clock.t += 10
    assert kitchen.renew() and kitchen.holding  # within its time: nobody else can have it
    clock.t += 10
    kitchen.renew()
    assert caplog.text.count("could not be renewed") == 1  # said once, not every 10 s
    clock.t = T0 + 30
    assert not kitchen.renew() and not kitchen.holding


def test_home_assistant_is_connected_only_from_the_box_doing_the_households_jobs(
    tmp_path: Path,
) -> None:
    """One MQTT client for the household: the box doing the household's jobs connects; when the
    other box takes over it says "offline" and lets go; when it takes them back it connects."""
    from agent import config as config_mod
    from agent.ops.scheduler import Scheduler

    from mqtttools import PASSWORD, USER, Broker, Listener
    from waiting import wait_for

    broker = Broker(tmp_path / "broker")
    credentials = tmp_path / "mqtt-login"
    credentials.write_text(f"{USER}\n{PASSWORD}\n")
    raw = {
        "store": {"url": f"sqlite:///{tmp_path / 'hr.db'}"},
        "mqtt": {"broker": f"127.0.0.1:{broker.port}", "credentials_file": str(credentials)},
        "jobs": {"box_name": "kitchen", "lease_seconds": 2.0, "lease_renew_seconds": 0.5},
    }
    jobs = Jobs(config_mod.parse(raw, "t.toml", tmp_path))
    listener = Listener(broker.port, "houserules/status")
    scheduler = Scheduler(jobs.tz)
    status = "houserules/status"
    try:
        jobs.schedule(scheduler)  # takes the lease at once, and connects
        wait_for(lambda: listener.last(status) == b"online", "kitchen online", seconds=20)
        with jobs.engine.begin() as conn:  # the hall box took over while the kitchen hung
            conn.exec_driver_sql("UPDATE job_lease SET expires_at = 0")
        assert store.hold(jobs.engine, store.HOUSEHOLD, "hall:1:x", "hall", 60) is not None
        wait_for(lambda: listener.last(status) == b"offline", "kitchen lets go", seconds=20)
        assert not jobs.lease.holding
        assert store.release(jobs.engine, store.HOUSEHOLD, "hall:1:x")  # the hall stops
        wait_for(lambda: listener.last(status) == b"online", "kitchen back online", seconds=20)
        assert jobs.lease.holding and listener.all(status) == [b"online", b"offline", b"online"]
    finally:
        scheduler.shutdown(wait=True)
        jobs.close()
        listener.stop()
        broker.stop()
