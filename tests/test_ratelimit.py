"""The per-client rate limit: the bucket itself, then floods sent to the real server over
loopback, then the one event a parent reads (real store, real insights job)."""

from __future__ import annotations

import socket
import time

import pytest
from dnslib import RCODE, DNSRecord

from agent import config as config_mod
from agent.dns import server as server_mod
from agent.dns import wire
from agent.dns.ratelimit import IDLE_SECONDS, RateLimiter
from agent.events import EventKind
from agent.events.registry import describe
from agent.rules.decision import ALLOWED
from agent.rules.policy import Policy, PolicyHolder
from agent.store.events import list_events

from agenttools import TZ, RunningAgent, write_config
from dnstools import ServerThread, Upstream, ask, send_raw

# -- the bucket -------------------------------------------------------------------------------


def test_a_burst_up_to_the_limit_passes_then_the_rest_is_refused_until_it_refills():
    limiter = RateLimiter(60)  # one a second, sixty at once
    assert all(limiter.allow("10.0.0.2", 100.0) for _ in range(60))
    assert not limiter.allow("10.0.0.2", 100.0)
    assert limiter.allow("10.0.0.3", 100.0), "another device has its own bucket"
    assert not limiter.allow("10.0.0.2", 100.5)
    assert limiter.allow("10.0.0.2", 101.6)  # a second and a half: one more token
    assert not limiter.allow("10.0.0.2", 101.7)


def test_a_flood_is_one_episode_announced_once_until_the_device_slows_down():
    limiter = RateLimiter(60)
    for _ in range(60):
        limiter.allow("10.0.0.2", 0.0)
    refused = [not limiter.allow("10.0.0.2", 0.001 * i) for i in range(1, 5_000)]
    assert sum(refused) > 4_900 and limiter.episodes == 1
    assert limiter.take_announcement("10.0.0.2")
    assert not limiter.take_announcement("10.0.0.2"), "once an episode, not once a query"
    assert limiter.flooding("10.0.0.2")
    # still sending at the limit's own pace: the same episode
    assert limiter.allow("10.0.0.2", 10.0) and limiter.flooding("10.0.0.2")
    # quiet for a minute: the bucket is full again and the episode is over
    assert limiter.allow("10.0.0.2", 80.0) and not limiter.flooding("10.0.0.2")
    for _ in range(80):
        limiter.allow("10.0.0.2", 80.0)
    assert limiter.episodes == 2 and limiter.take_announcement("10.0.0.2")


def test_the_box_itself_is_not_limited():
    limiter = RateLimiter(10)
    assert all(limiter.allow("127.0.0.1", 0.0) for _ in range(1_000))
    assert all(limiter.allow("::1", 0.0) for _ in range(1_000))
    assert len(limiter) == 0
    assert not all(limiter.allow("127.0.0.2", 0.0) for _ in range(11)), "only the box itself"


def test_memory_stays_bounded_under_spoofed_addresses_and_idle_ones_go_first():
    limiter = RateLimiter(60, max_clients=1_000)
    for _ in range(70):
        limiter.allow("10.9.9.9", 0.0)  # flooding, and still busy later
    for i in range(999):
        limiter.allow(f"10.1.{i // 250}.{i % 250}", 0.0)
    for _ in range(70):
        limiter.allow("10.9.9.9", IDLE_SECONDS - 1.0)  # still flooding a minute later
    for i in range(50_000):
        assert limiter.allow(f"10.2.{i // 250 % 250}.{i % 250}-{i}", IDLE_SECONDS + 2.0)
        assert len(limiter) <= 1_000
        if i == 0:  # the first sweep forgot the idle ones and kept the busy flooder
            assert len(limiter) == 2 and limiter.flooding("10.9.9.9")


def test_a_limit_of_zero_refuses_nothing_because_the_server_skips_it(upstream):
    st = ServerThread(_cfg(upstream, client_rate_limit=0), _holder(), _decide).start()
    try:
        assert st.server.guard is None
        for _ in range(5):
            assert ask(st.port, "example.com").header.rcode == RCODE.NOERROR
    finally:
        st.stop()


# -- floods over loopback -----------------------------------------------------------------------


def _cfg(upstream: Upstream, **dns: object) -> config_mod.Config:
    raw = {
        "dns": {"listen": ["127.0.0.1:0"], "upstream_timeout": 0.5, **dns},
        "upstream": {"servers": [upstream.address]},
    }
    return config_mod.parse(raw, "test", config_mod.Config().base_dir)


def _holder() -> PolicyHolder:
    return PolicyHolder(Policy(index=None))  # type: ignore[arg-type]


def _decide(*_: object) -> object:
    return ALLOWED


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture(params=["compiled", "python"])
def flooded(request, upstream, monkeypatch):
    """The real server with a limit of 100 a minute, on the compiled front end and the
    plain asyncio one; `log` holds what went to the query log."""
    if request.param == "python":
        monkeypatch.setattr(server_mod, "fastpath", None)
    elif server_mod.fastpath is None:
        pytest.skip("the compiled fast path is not built here")
    log: list[tuple] = []
    st = ServerThread(
        _cfg(upstream, client_rate_limit=100),
        _holder(),
        _decide,
        submit=lambda row: log.append(row) or True,
    ).start()
    st.log = log
    yield st
    st.stop()


def _blast(port: int, source: str, count: int, name: str = "example.com") -> list[int]:
    """Send `count` queries as fast as they are answered; the rcodes that came back."""
    packet = DNSRecord.question(name, "A").pack()
    rcodes = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(2.0)
        for _ in range(count):
            s.sendto(packet, ("127.0.0.1", port))
            rcodes.append(s.recv(4096)[3] & 0x0F)
    return rcodes


def _flood_rows(log: list[tuple]) -> list[tuple]:
    return [r for r in log if len(r) == 14 and r[7] == "flood"]


def test_a_flooding_device_is_refused_beyond_its_limit_and_the_others_are_not(flooded):
    started = time.monotonic()
    rcodes = _blast(flooded.port, "127.0.0.2", 400)
    elapsed = time.monotonic() - started
    answered = rcodes.count(wire.NOERROR)
    # 100 at once, then 100 a minute: a few more earned while the flood ran
    assert 100 <= answered <= 100 + int(elapsed * 100 / 60) + 2
    assert rcodes.count(wire.REFUSED) == 400 - answered
    assert rcodes[-1] == wire.REFUSED
    for source in ("127.0.0.3", "127.0.0.4"):
        assert ask(flooded.port, "example.com", source=source).header.rcode == RCODE.NOERROR
    # the box itself (the proxy asks for the whole home from here) is never limited
    assert set(_blast(flooded.port, "127.0.0.1", 300)) == {wire.NOERROR}
    # over TCP too, and it counts against the same bucket
    reply = ask(flooded.port, "example.com", source="127.0.0.2", tcp=True)
    assert reply.header.rcode == RCODE.REFUSED


def test_a_flood_is_logged_once_not_once_a_query(flooded):
    _blast(flooded.port, "127.0.0.2", 300)
    _blast(flooded.port, "127.0.0.2", 300)
    rows = _flood_rows(flooded.log)
    assert len(rows) == 1
    ts, client, _device, child, name, qtype, action, rule, reason = rows[0][:9]
    assert (client, name, qtype, action, rule) == (
        "127.0.0.2", "example.com", "A", "refuse", "flood"
    )  # fmt: skip
    assert "100 queries a minute" in reason and abs(ts - time.time()) < 60
    assert flooded.server.guard.limiter.refused >= 400


def test_refusing_a_flood_of_junk_stays_safe(flooded):
    """Over the limit, even packets that are not queries get REFUSED or silence, never an
    error that stops the server."""
    _blast(flooded.port, "127.0.0.2", 100)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        for junk in (b"", b"\x00" * 5, b"\xff" * 40, DNSRecord.question("x.test").pack()[:15]):
            s.sendto(junk, ("127.0.0.1", flooded.port))
    reply = send_raw(flooded.port, DNSRecord.question("example.com").pack(), source="127.0.0.2")
    assert reply[3] & 0x0F == wire.REFUSED
    assert ask(flooded.port, "example.com", source="127.0.0.3").header.rcode == RCODE.NOERROR


# -- the parent's event, end to end -------------------------------------------------------------


def floods(engine) -> list:
    return [e for e in list_events(engine) if e.kind is EventKind.DEVICE_FLOOD]


def test_a_flood_becomes_one_calm_event_for_the_parent(tmp_path, upstream):
    path = write_config(tmp_path, upstream.address)
    path.write_text(path.read_text().replace("[dns]\n", "[dns]\nclient_rate_limit = 50\n", 1))
    cfg = config_mod.load(path)
    with RunningAgent(cfg) as running:
        for _ in range(3):
            rcodes = _blast(running.port, "127.0.0.9", 200)
            assert rcodes.count(wire.REFUSED) >= 100
        assert ask(running.port, "example.com").header.rcode == RCODE.NOERROR
        assert running.agent.writer.flush(5)
        # the DNS process hands the flood over as one query-log row and writes no events:
        # the jobs process's insights run makes the event
        assert not floods(running.engine)
        running.jobs.run_insights()
        running.jobs.run_insights()  # a second run finds nothing new
        events = floods(running.engine)
    assert len(events) == 1
    event = events[0]
    assert event.device == "127.0.0.9" and event.details["limit"] == 50
    words = describe(event, TZ)
    assert "more than 50 lookups a minute" in words and "restart the device" in words
    assert "refused" not in words.lower() and "REFUSED" not in words
