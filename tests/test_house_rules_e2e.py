"""House rules end to end: real packets from two devices, the CLI changing rules while the
agent runs, and safe search answered with the upstream's address for the safe host."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from dnslib import QTYPE, RCODE

from agent import config as config_mod
from agent.cli import main as cli

from agenttools import TZ, RunningAgent, until, write_config
from dnstools import DEFAULT_ZONE, Upstream, ZoneResolver, ask

ZONE = (
    DEFAULT_ZONE
    + """
www.tiktok.com.     300 IN A 192.0.2.10
www.youtube.com.    300 IN A 192.0.2.11
www.bbc.co.uk.      300 IN A 192.0.2.12
www.google.co.uk.   300 IN A 192.0.2.13
restrictmoderate.youtube.com. 300 IN A 216.239.38.119
"""
)


@pytest.fixture
def upstream():
    up = Upstream(ZoneResolver(ZONE)).start()
    yield up
    up.stop()


@pytest.fixture
def household(tmp_path, upstream):
    """Sam (11) on 127.0.0.2, Alex (15) on 127.0.0.3, set up with the real CLI."""
    path = write_config(tmp_path, upstream.address)
    today = datetime.now(TZ).date()
    sam_born = today.replace(year=today.year - 11) - timedelta(days=30)
    alex_born = today.replace(year=today.year - 15) - timedelta(days=30)
    commands = [
        ["child", "add", "Sam", "--born", sam_born.isoformat()],
        ["child", "add", "Alex", "--born", alex_born.isoformat()],
        ["device", "add", "--ip", "127.0.0.2", "--name", "Sam's tablet", "--child", "Sam"],
        ["device", "add", "--ip", "127.0.0.3", "--name", "Alex's phone", "--child", "Alex"],
        ["device", "add", "--ip", "127.0.0.4", "--name", "Parent laptop", "--adult"],
    ]
    for argv in commands:
        assert cli(["--config", str(path), *argv]) == 0, argv
    return path


def test_an_11_and_a_15_year_old_get_different_answers_for_the_same_app(household):
    with RunningAgent(config_mod.load(household)) as running:
        sam = ask(running.port, "www.tiktok.com", source="127.0.0.2")
        alex = ask(running.port, "www.tiktok.com", source="127.0.0.3")
        assert sam.header.rcode == RCODE.NXDOMAIN
        assert alex.header.rcode == RCODE.NOERROR and str(alex.rr[0].rdata) == "192.0.2.10"
        assert running.agent.writer.flush(5)
    rows = _log_rows(household)
    assert ("127.0.0.2", "www.tiktok.com", "block", "age:tiktok", "Sam", "tiktok") in rows
    assert ("127.0.0.3", "www.tiktok.com", "allow", "default", "Alex", "tiktok") in rows


def test_a_schedule_added_with_the_cli_while_running_applies_within_two_seconds(household):
    with RunningAgent(config_mod.load(household)) as running:
        assert ask(running.port, "www.bbc.co.uk", source="127.0.0.3").header.rcode == RCODE.NOERROR
        now = datetime.now(TZ)
        start, end = (now - timedelta(minutes=2)), (now + timedelta(minutes=20))
        argv = [
            "--config", str(household), "schedule", "add", "Homework", "--child", "Alex",
            "--days", "mon,tue,wed,thu,fri,sat,sun",
            "--from", start.strftime("%H:%M"), "--to", end.strftime("%H:%M"), "--block-all",
        ]  # fmt: skip
        assert cli(argv) == 0
        took = until(
            lambda: (
                ask(running.port, "www.bbc.co.uk", source="127.0.0.3").header.rcode
                == RCODE.NXDOMAIN
            ),
            2.0,
        )
        assert took < 2.0
        # Sam has no such schedule, and the adult's device is never scheduled
        assert ask(running.port, "www.bbc.co.uk", source="127.0.0.2").header.rcode == RCODE.NOERROR
        assert ask(running.port, "www.bbc.co.uk", source="127.0.0.4").header.rcode == RCODE.NOERROR


def test_safe_search_answers_a_cname_and_the_safe_hosts_address(household, upstream):
    with RunningAgent(config_mod.load(household)) as running:
        for source, target in (
            ("127.0.0.2", "restrict.youtube.com."),  # 11: strict
            ("127.0.0.3", "restrictmoderate.youtube.com."),  # 15: moderate
        ):
            reply = ask(running.port, "www.youtube.com", source=source)
            if source == "127.0.0.2":
                assert reply.header.rcode == RCODE.NXDOMAIN  # YouTube is 13+: blocked for Sam
                continue
            assert reply.rr[0].rtype == QTYPE.CNAME and str(reply.rr[0].rdata) == target
            assert str(reply.rr[1].rdata) == "216.239.38.119"
        google = ask(running.port, "www.google.co.uk", source="127.0.0.2")
        assert str(google.rr[0].rdata) == "forcesafesearch.google.com."
        assert google.rr[1].rtype == QTYPE.A and str(google.rr[1].rdata) == "216.239.38.120"
        assert upstream.resolver.asked[("forcesafesearch.google.com.", "A")] == 1
        adult = ask(running.port, "www.google.co.uk", source="127.0.0.4")
        assert [str(r.rdata) for r in adult.rr] == ["192.0.2.13"]  # adults: no rewrite


def _log_rows(config_path) -> set[tuple]:
    from agent.store.querylog import recent

    cfg = config_mod.load(config_path)
    return {
        (r.client, r.name, r.action, r.rule, r.child, r.app) for r in recent(cfg.database_path, 100)
    }
