"""Two boxes, one household on PostgreSQL: real DNS processes (as `houserules run` starts them)
on different loopback ports, one real PostgreSQL that the test stops and starts, a real
upstream. A rule a parent sets reaches both; with the database away both keep the last rules,
also across a restart; when it is back, new rules reach both again."""

from __future__ import annotations

import stat
from datetime import date

import pytest
from dnslib import RCODE
from test_store_pgsnapshot import engine_for

from agent import config as config_mod
from agent.ops import stats
from agent.ops.runner import household_copy
from agent.store.household import add_child, add_rule
from agent.store.household_devices import add_device
from tests.pgtools import PgServer

from agenttools import RunningAgent, until, write_config
from dnstools import Upstream, ask

BLOCKED, ANSWERED = RCODE.NXDOMAIN, RCODE.NOERROR


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def server():
    pg = PgServer()
    yield pg
    pg.close()


def box(tmp_path, name: str, upstream: Upstream, url: str) -> config_mod.Config:
    """One box's config: its own folder (data, compiled lists), the shared database."""
    folder = tmp_path / name
    folder.mkdir()
    return config_mod.load(write_config(folder, upstream.address, store_url=url))


def rcode(running: RunningAgent, name: str) -> int:
    return ask(running.port, name).header.rcode


def everywhere(boxes, name: str, code: int) -> bool:
    return all(rcode(b, name) == code for b in boxes)


def test_two_boxes_share_the_rules_and_keep_them_while_the_database_is_away(
    tmp_path, upstream, server
):
    url = server.create_database()
    engine = engine_for(url)
    sam = add_child(engine, "Sam", date(2015, 5, 1))
    add_device(engine, ip="127.0.0.1", name="tablet", owner="child", child_id=sam.id)
    first, second = box(tmp_path, "first", upstream, url), box(tmp_path, "second", upstream, url)
    a = RunningAgent(first, jobs=False).__enter__()
    b = RunningAgent(second, jobs=False).__enter__()
    try:
        assert a.port != b.port
        assert everywhere((a, b), "badtracker.test", ANSWERED)

        # a rule set through the store (as the dashboard and the CLI do) reaches both boxes
        add_rule(engine, sam.id, "block", "domain", "badtracker.test")
        took = until(lambda: everywhere((a, b), "badtracker.test", BLOCKED), 2.0, "the rule")
        assert took < 2.0

        # the database goes away: both keep answering with the last rules
        engine.dispose()
        server.stop()
        until(lambda: a.agent.household.problem and b.agent.household.problem, 10.0, "noticed")
        for _ in range(3):
            assert everywhere((a, b), "badtracker.test", BLOCKED)  # blocked stays blocked
            assert everywhere((a, b), "example.com", ANSWERED)  # allowed keeps resolving
        copy = household_copy(first)
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
        told = stats.stats_path(second)  # what /metrics shows a parent
        until(lambda: (stats.read_stats(told) or {}).get("household", {}).get("problem"), 5.0)

        # the first box restarts during the outage: it starts from its copy, not open
        a.__exit__(None, None, None)
        a = RunningAgent(first, jobs=False).__enter__()
        assert a.agent.household.state["read_from"] == "copy"
        assert rcode(a, "badtracker.test") == BLOCKED
        assert rcode(a, "dns.google") == BLOCKED  # the compiled lists, from its own disk
        assert rcode(a, "example.com") == ANSWERED

        # a box that never read the household (no copy) fails closed: the strictest defaults
        with RunningAgent(box(tmp_path, "third", upstream, url), jobs=False) as c:
            assert c.agent.holder.current.household is None
            assert rcode(c, "dns.google") == BLOCKED

        # the database is back: both read it again, and a new rule reaches both
        server.start()
        until(
            lambda: (
                all(x.agent.household.state["read_from"] == "database" for x in (a, b))
                and not (a.agent.household.problem or b.agent.household.problem)
            ),
            15.0,
            "both boxes to read the database again",
        )
        add_rule(engine, sam.id, "block", "domain", "example.com")
        took = until(lambda: everywhere((a, b), "example.com", BLOCKED), 2.0, "the new rule")
        assert took < 2.0
        assert everywhere((a, b), "badtracker.test", BLOCKED)
    finally:
        a.__exit__(None, None, None)
        b.__exit__(None, None, None)
        engine.dispose()
