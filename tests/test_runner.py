"""The agent as `houserules run` starts it: real server, real store, real jobs, real upstream."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest
from dnslib import RCODE

from agent import config as config_mod
from agent.ops.jobs import Jobs
from agent.store import count_rows
from agent.store.household import add_child, add_schedule, pause
from agent.store.household_devices import add_device, list_devices
from agent.store.querylog import LogEntry, QueryLogWriter

from agenttools import TZ, RunningAgent, until, write_config
from dnstools import Upstream, ask


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def cfg(tmp_path, upstream):
    return config_mod.load(write_config(tmp_path, upstream.address))


def test_an_empty_household_still_filters_bypass_names_and_logs(cfg):
    with RunningAgent(cfg) as running:
        assert ask(running.port, "dns.google").header.rcode == RCODE.NXDOMAIN
        assert ask(running.port, "use-application-dns.net").header.rcode == RCODE.NXDOMAIN
        assert str(ask(running.port, "example.com").rr[0].rdata) == "93.184.216.34"
        assert running.agent.writer.flush(5)
    assert count_rows(cfg.database_path) == 3


def test_a_schedule_added_while_running_takes_effect_within_two_seconds(cfg):
    with RunningAgent(cfg) as running:
        assert ask(running.port, "example.com").header.rcode == RCODE.NOERROR
        engine = running.engine
        sam = add_child(engine, "Sam", date(2015, 5, 1))
        add_device(engine, ip="127.0.0.1", name="tablet", owner="child", child_id=sam.id)
        now = datetime.now(TZ)
        start = (now - timedelta(minutes=5)).time().replace(second=0, microsecond=0)
        end = (now + timedelta(minutes=30)).time().replace(second=0, microsecond=0)
        add_schedule(engine, sam.id, "Bedtime", range(7), start, end, block_all=True)
        took = until(lambda: ask(running.port, "example.com").header.rcode == RCODE.NXDOMAIN, 2.0)
        assert took < 2.0
        # an unknown device follows the youngest child's rules ("youngest"), bedtime included
        reply = ask(running.port, "example.com", source="127.0.0.2")
        assert reply.header.rcode == RCODE.NXDOMAIN


def test_a_pause_blocks_everything_then_expires(cfg):
    with RunningAgent(cfg) as running:
        engine = running.engine
        sam = add_child(engine, "Sam", date(2015, 5, 1))
        add_device(engine, ip="127.0.0.1", owner="child", child_id=sam.id)
        pause(engine, datetime.now(TZ) + timedelta(seconds=2), child_id=sam.id)
        until(lambda: ask(running.port, "example.com").header.rcode == RCODE.NXDOMAIN, 2.0)
        until(lambda: ask(running.port, "example.com").header.rcode == RCODE.NOERROR, 5.0)


def test_devices_seen_are_recorded_for_the_dashboard(cfg):
    with RunningAgent(cfg) as running:
        ask(running.port, "example.com", source="127.0.0.5")
        assert running.agent.writer.flush(5)
        assert running.jobs.record_seen_devices() == 1
        devices = {d.ip: d for d in list_devices(running.engine)}
    assert devices["127.0.0.5"].owner == "unassigned"


def test_the_dns_answers_when_the_database_cannot_be_opened(tmp_path, upstream):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    path = write_config(tmp_path, upstream.address, store_url=f"sqlite:///{blocker}/hr.db")
    cfg = config_mod.load(path)
    with RunningAgent(cfg, jobs=False) as running:
        assert running.agent.holder.current.household is None
        assert ask(running.port, "dns.google").header.rcode == RCODE.NXDOMAIN  # strict defaults
        assert ask(running.port, "example.com").header.rcode == RCODE.NOERROR


def test_retention_prunes_old_query_rows(cfg):
    writer = QueryLogWriter(cfg.database_path)
    now = time.time()
    for age_days in (40, 31, 29, 1):
        writer.submit(
            LogEntry(
                now - age_days * 86_400, "127.0.0.1", None, None, "a.test", "A", "allow", "", ""
            )
        )
    writer.stop()
    jobs = Jobs(cfg, now=lambda: datetime.fromtimestamp(now, TZ))
    assert jobs.prune() == 2
    assert count_rows(cfg.database_path) == 2


def test_an_edited_list_file_is_compiled_and_swapped_in(tmp_path, upstream):
    extra = tmp_path / "gambling.txt"
    extra.write_text("casino.test\n")
    cfg = config_mod.load(write_config(tmp_path, upstream.address, extra_list=extra))
    with RunningAgent(cfg) as running:
        engine = running.engine
        sam = add_child(engine, "Sam", date(2015, 5, 1))
        add_device(engine, ip="127.0.0.1", owner="child", child_id=sam.id)
        until(lambda: ask(running.port, "www.casino.test").header.rcode == RCODE.NXDOMAIN, 2.0)
        assert ask(running.port, "poker.test").header.rcode == RCODE.NXDOMAIN  # not in the zone
        assert running.agent.holder.current.index.lookup("poker.test").categories == frozenset()
        extra.write_text("casino.test\npoker.test\n")
        running.agent.refresh_lists(force=False)
        assert running.agent.holder.current.index.lookup("www.poker.test").categories == {
            "gambling"
        }


def test_insights_turn_live_queries_into_events(cfg):
    from agent.store.events import list_events

    with RunningAgent(cfg) as running:
        engine = running.engine
        sam = add_child(engine, "Sam", date(2015, 5, 1))
        add_device(engine, ip="127.0.0.1", owner="child", child_id=sam.id)
        running.agent.refresh_household()
        assert ask(running.port, "dns.google").header.rcode == RCODE.NXDOMAIN
        assert running.agent.writer.flush(5)
        running.jobs.run_insights()
        events = list_events(engine, child="Sam")
    kinds = {(e.kind.value, e.severity.value) for e in events}
    assert ("bypass_suspected", "alert") in kinds


def test_the_jobs_process_is_started_and_started_again_if_it_stops(cfg):
    from agent.ops.runner import Agent

    Jobs(cfg)  # the database exists, as after `houserules init`
    agent = Agent(cfg)
    try:
        agent.look_after_jobs()
        first = agent.jobs_process
        assert first is not None and first.poll() is None
        first.kill()
        first.wait(10)
        until(lambda: agent.look_after_jobs() or agent.jobs_process is not first, 5.0)
        assert agent.jobs_process.poll() is None
    finally:
        agent._stop_jobs()
    assert agent.jobs_process.returncode is not None  # stopped with the agent


def test_the_dns_process_carries_no_orm():
    import subprocess
    import sys

    code = (
        "import sys, agent.ops.runner\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'alembic', 'pydantic', 'apscheduler', 'psycopg')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_taken_port_stops_the_start_with_a_plain_message(tmp_path, upstream):
    """`houserules run` where another DNS server already listens: one clear line, exit 1, no
    traceback, and its log writer process ends with it."""
    import socket
    import subprocess
    import sys

    path = write_config(tmp_path, upstream.address)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        path.write_text(path.read_text().replace('"127.0.0.1:0"]', f'"127.0.0.1:{port}"]', 1))
        done = subprocess.run(
            [sys.executable, "-m", "agent.ops.runner", "--config", str(path)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port} (UDP): Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
