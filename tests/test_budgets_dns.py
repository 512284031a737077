"""A daily budget over loopback: the real DNS process, a real upstream, the real store, and the
jobs process's insights run, with the DNS process's and the jobs' clocks moved forward.

Sam's tablet looks up Roblox every 30 s (simulated); the insights job runs every 30 s, 15 s
after each lookup. Once the five minutes of the budget are counted, the next lookup is blocked;
the parent's "15 more minutes" reaches the DNS within 2 s; when those are spent it closes again.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest
from dnslib import RCODE

from agent import config as config_mod
from agent.rules import budgets as rules
from agent.store import budgets
from agent.store import household as store
from agent.store.querylog import newest_id

from agenttools import TZ, RunningAgent, until, write_config
from dnstools import DEFAULT_ZONE, Upstream, ZoneResolver, ask

ZONE = DEFAULT_ZONE + "roblox.com. 300 IN A 192.0.2.21\n"
TABLET = "127.0.0.6"
START = datetime(2026, 11, 23, 16, 0, 5, tzinfo=TZ)  # a Monday after school


class Clock:
    """Simulated time: `at` is the moment the DNS process and the jobs see, held there."""

    def __init__(self) -> None:
        self.at = START.timestamp()

    def __call__(self) -> float:
        return self.at

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.at, TZ)


@pytest.fixture
def running(tmp_path):
    upstream = Upstream(ZoneResolver(ZONE)).start()
    cfg = config_mod.load(write_config(tmp_path, upstream.address))
    with RunningAgent(cfg, jobs=True) as agent:
        agent.clock = Clock()
        agent.agent.resolver.wallclock = agent.clock
        agent.jobs.now = agent.clock.now
        agent.cfg = cfg
        yield agent
    upstream.stop()


def answered_blocked(running) -> bool:
    return reading(ask(running.port, "roblox.com", source=TABLET))[0]


def lookup(running) -> tuple[bool, int]:
    """One lookup from the tablet, once its row is in the query log: (blocked, TTL)."""
    before = newest_id(running.cfg.database_path)
    reply = ask(running.port, "roblox.com", source=TABLET)
    # the log commits every few seconds; the job here runs 15 s (simulated) after the lookup
    assert running.agent.writer.flush()
    until(lambda: newest_id(running.cfg.database_path) > before, 10.0)
    return reading(reply)


def reading(reply) -> tuple[bool, int]:
    if reply.header.rcode == RCODE.NXDOMAIN or not reply.rr:
        return True, reply.auth[0].ttl if reply.auth else 0
    return str(reply.rr[0].rdata) != "192.0.2.21", reply.rr[0].ttl


def settle(running) -> None:
    """Wait until the DNS process has the household version the store has."""
    version = store.load_household(running.engine).version
    until(lambda: running.agent.holder.current.household.version == version, 5.0)


def test_a_budget_blocks_within_a_lookup_once_used_and_extra_time_reaches_the_dns(
    running,
) -> None:
    engine, clock = running.engine, running.clock
    sam = store.add_child(engine, "Sam", date(2014, 6, 1))
    store.add_device(engine, ip=TABLET, name="Sam's tablet", owner="child", child_id=sam.id)
    budget = budgets.set_budget(engine, sam.id, "app", "roblox", rules.week_of(5, 5))
    settle(running)

    counted_at: float | None = None  # when the lookup that used the last minute was made
    blocked_at: float | None = None
    step = 0
    while blocked_at is None:
        assert step < 40, "the budget never took hold"
        clock.at = START.timestamp() + 30 * step
        blocked, ttl = lookup(running)
        if blocked:
            blocked_at = clock.at
            break
        assert ttl <= 30  # a budgeted name is never kept long by the device
        clock.at += 15
        running.jobs.run_for_budgets()  # the 10 s job (insights while a budget exists)
        settle(running)
        if counted_at is None and budgets.get_budget(engine, budget.id).used >= 5:
            counted_at = clock.at - 15
        step += 1
    assert counted_at is not None
    delay = blocked_at - counted_at
    print(f"\nblocked {delay:.0f} s after the lookup that used the budget's last minute")
    assert delay <= 60

    # the parent's one tap: 15 more minutes
    tapped = time.monotonic()
    budgets.add_extra_time(engine, budget, 15, clock.now())
    until(lambda: not answered_blocked(running), 2.0)
    assert time.monotonic() - tapped < 2.0

    # and it closes again when those are spent
    step_at = clock.at
    closed = None
    for n in range(1, 60):
        clock.at = step_at + 30 * n
        blocked, _ttl = lookup(running)
        if blocked:
            closed = clock.at
            break
        clock.at += 15
        running.jobs.run_for_budgets()  # the 10 s job (insights while a budget exists)
        settle(running)
    assert closed is not None
    assert budgets.get_budget(engine, budget.id).used >= 20
    assert closed - step_at <= 16 * 60 + 60  # 15 more minutes, give or take the counting

    # the day starts again at 04:00: no write is needed for it to open
    clock.at = (datetime(2026, 11, 24, 4, 0, 1, tzinfo=TZ)).timestamp()
    assert not lookup(running)[0]
    clock.at = (datetime(2026, 11, 24, 3, 59, 0, tzinfo=TZ) - timedelta(0)).timestamp()
    assert lookup(running)[0]  # still Monday's budget day


def test_the_budget_job_counts_often_and_never_overlaps_insights(running) -> None:
    jobs = running.jobs
    assert ("budgets", jobs.run_for_budgets, 10.0) in jobs.jobs()
    assert not budgets.has_budgets(running.engine)
    jobs.run_for_budgets()  # no budget: nothing is run
    assert jobs._insights is None
    sam = store.add_child(running.engine, "Sam", date(2014, 6, 1))
    budgets.set_budget(running.engine, sam.id, "all", "", rules.week_of(120, 180))
    with jobs._insights_running:  # a run under way: the other job leaves it alone
        jobs.run_for_budgets()
        assert jobs._insights is None
    jobs.run_for_budgets()
    assert jobs._insights is not None
