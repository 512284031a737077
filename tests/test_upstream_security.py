"""Attacks on the path to the upstream, over real loopback: forged replies (cache poisoning),
what the upstream learns about the asker, and an upstream that goes silent then comes back.
The real server runs with and without the compiled fast path."""

from __future__ import annotations

import socket
import statistics
import struct
import time

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord, EDNSOption

from agent import config as config_mod
from agent.dns import server as server_mod
from agent.dns import wire
from agent.dns.upstream import _port_range
from agent.rules.decision import ALLOWED
from agent.rules.policy import Policy, PolicyHolder

from dnstools import ScriptedUpstream, ServerThread, answer_for, ask, send_raw

FORGED = "203.0.113.66"


def allow(*_: object) -> object:
    return ALLOWED


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def make_cfg(upstream: str, timeout: float = 1.0, **upstream_keys: object) -> config_mod.Config:
    raw = {
        "dns": {"listen": ["127.0.0.1:0"], "upstream_timeout": timeout},
        "upstream": {"servers": [upstream], "dead_for": 30, **upstream_keys},
    }
    return config_mod.parse(raw, "test", config_mod.Config().base_dir)


@pytest.fixture(params=["compiled", "python"])
def fast_path(request, monkeypatch):
    if request.param == "python":
        monkeypatch.setattr(server_mod, "fastpath", None)
        monkeypatch.setattr(wire, "_parse_c", None)
    elif server_mod.fastpath is None:
        pytest.skip("the compiled fast path is not built here")
    return request.param


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def scripted(fast_path):
    up = ScriptedUpstream().start()
    yield up
    up.stop()


def start_server(upstream: ScriptedUpstream, clock: Clock, **cfg: object) -> ServerThread:
    holder = PolicyHolder(Policy(index=None))  # type: ignore[arg-type]
    return ServerThread(make_cfg(upstream.address, **cfg), holder, allow, monotonic=clock).start()


@pytest.fixture
def server(scripted, clock):
    st = start_server(scripted, clock)
    yield st
    st.stop()


def wait_for(predicate, what: str, deadline: float = 5.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        got = predicate()
        if got:
            return got
        time.sleep(0.005)
    raise AssertionError(f"timed out waiting for {what}")


# -- 1. cache poisoning --------------------------------------------------------------------


def test_every_upstream_query_has_its_own_port_id_and_letter_case(server, scripted):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        for i in range(1000):
            client.sendto(
                DNSRecord.question(f"n{i}.example.com").pack(), ("127.0.0.1", server.port)
            )
            assert DNSRecord.parse(client.recvfrom(4096)[0]).header.rcode == RCODE.NOERROR
    queries = [(d, a) for d, a in scripted.received if b"example" in d.lower()]
    assert len(queries) == 1000
    ports = {addr[1] for _, addr in queries}
    ids = {d[:2] for d, _ in queries}
    low, high = _port_range()
    assert len(ports) >= 900, f"only {len(ports)} distinct source ports in 1000 queries"
    assert all(low <= p <= high for p in ports), "ports come from the ephemeral range"
    assert len(ids) >= 970, f"only {len(ids)} distinct IDs in 1000 queries"
    names = [str(DNSRecord.parse(d).q.qname) for d, _ in queries]
    mixed = sum(1 for n in names if n != n.lower())
    assert mixed >= 980, "the name's letter case is drawn at random (0x20)"


def forged_replies(query: bytes) -> list[tuple[str, bytes, str]]:
    """(how it is forged, packet, where it is sent from) for one query seen upstream."""
    good = answer_for(query, FORGED, ttl=86_395)
    wrong_id = struct.pack(">H", struct.unpack(">H", good[:2])[0] ^ 0x5A5A) + good[2:]
    other = DNSRecord.question("bank.example.org")
    other.header.id = struct.unpack(">H", query[:2])[0]
    wrong_question = answer_for(bytes(other.pack()), FORGED)
    return [
        ("wrong source address", good, "127.0.0.2"),
        ("wrong source port", good, "127.0.0.1"),
        ("wrong ID", wrong_id, "upstream"),
        ("wrong question", wrong_question, "upstream"),
    ]


def test_forged_replies_are_ignored_and_the_real_one_is_accepted(server, scripted):
    scripted.mode = "silent"  # the test answers by hand, forgeries first
    name = "bank.example.com."
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        client.sendto(DNSRecord.question("bank.example.com").pack(), ("127.0.0.1", server.port))
        query, pool_addr = wait_for(lambda: scripted.queries_for(name), "the query upstream")[0]
        for _how, packet, source in forged_replies(query):
            if source == "upstream":
                scripted.send(packet, pool_addr)
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forger:
                    forger.bind((source, 0))
                    forger.sendto(packet, pool_addr)
        pool = server.resolver.upstreams
        # the kernel drops the first two (the socket is connected); the pool reads the others
        wait_for(lambda: pool.ignored >= 2, "the pool to read and ignore two forgeries")
        scripted.send(answer_for(query, ScriptedUpstream.ADDRESS), pool_addr)
        reply = DNSRecord.parse(client.recvfrom(4096)[0])
    assert [str(r.rdata) for r in reply.rr] == [ScriptedUpstream.ADDRESS]
    assert str(reply.q.qname) == "bank.example.com.", "the client gets its own question back"
    again = ask(server.port, "bank.example.com")
    assert [str(r.rdata) for r in again.rr] == [ScriptedUpstream.ADDRESS], "cached: the real one"
    assert len(scripted.queries_for(name)) == 1
    assert b"\xcb\x00\x71\x42" not in bytes(again.pack()), "the forged address is nowhere"


def test_a_late_forgery_after_the_answer_reaches_nobody(server, scripted):
    scripted.mode = "silent"
    name = "late.example.com."
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        client.sendto(DNSRecord.question("late.example.com").pack(), ("127.0.0.1", server.port))
        query, pool_addr = wait_for(lambda: scripted.queries_for(name), "the query upstream")[0]
        scripted.send(answer_for(query, ScriptedUpstream.ADDRESS), pool_addr)
        assert str(DNSRecord.parse(client.recvfrom(4096)[0]).rr[0].rdata) == "192.0.2.1"
        scripted.send(answer_for(query, FORGED), pool_addr)  # its socket is closed by now
    assert str(ask(server.port, "late.example.com").rr[0].rdata) == "192.0.2.1"


def test_the_answer_comes_back_in_the_clients_letter_case(server, scripted):
    q = DNSRecord.question("WwW.ExAmple.COM")
    raw = send_raw(server.port, q.pack())
    seen = scripted.queries_for("www.example.com.")[0][0]
    assert str(DNSRecord.parse(seen).q.qname) != "WwW.ExAmple.COM.", "the case sent is ours"
    reply = DNSRecord.parse(raw)
    assert str(reply.q.qname) == "WwW.ExAmple.COM."
    assert str(reply.rr[0].rname) == "www.example.com.", "not the random case sent upstream"
    # the cached copy holds the name in one case whatever the upstream was sent
    cache = server.resolver.cache
    (key,) = cache._entries
    entry = cache.get(key, server.resolver.monotonic())
    assert entry.served.count(b"\x03www\x07example\x03com\x00") == 2  # question and answer


def test_a_forger_with_the_right_port_and_id_still_needs_the_letter_case(server, scripted):
    scripted.mode = "silent"
    name = "bank.example.com."
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(3)
        client.sendto(DNSRecord.question("bank.example.com").pack(), ("127.0.0.1", server.port))
        query, pool_addr = wait_for(lambda: scripted.queries_for(name), "the query upstream")[0]
        # the question with the case of its first letter ("b" of bank) turned round
        other_case = query[:13] + bytes((query[13] ^ 0x20,)) + query[14:]
        scripted.send(answer_for(other_case, FORGED), pool_addr)  # 31 bits guessed, case not
        retry, retry_addr = wait_for(
            lambda: scripted.queries_for(name)[1:], "the question asked again"
        )[0]
        assert retry_addr != pool_addr and retry[:2] != query[:2], "a fresh port and ID"
        scripted.send(answer_for(retry, ScriptedUpstream.ADDRESS), retry_addr)
        reply = DNSRecord.parse(client.recvfrom(4096)[0])
    assert [str(r.rdata) for r in reply.rr] == [ScriptedUpstream.ADDRESS]
    assert [str(r.rdata) for r in ask(server.port, name).rr] == [ScriptedUpstream.ADDRESS]
    assert server.resolver.upstreams.servers[0].keeps_case, "one wrong case does not end 0x20"


def test_an_upstream_that_does_not_keep_letter_case_still_answers(fast_path, clock):
    lower = ScriptedUpstream("lower").start()
    st = start_server(lower, clock)
    try:
        names = [f"n{i}.example.com" for i in range(5)]
        for name in names:
            assert str(ask(st.port, name).rr[0].rdata) == ScriptedUpstream.ADDRESS
        server = st.resolver.upstreams.servers[0]
        assert server.keeps_case is False and not server.down
        # each name asked twice (with 0x20, then without) until the third such reply
        asked = [len(lower.queries_for(n + ".")) for n in names]
        assert asked == [2, 2, 2, 1, 1]
    finally:
        st.stop()
        lower.stop()


# -- 4. what goes upstream -----------------------------------------------------------------


def test_client_subnet_cookies_and_unknown_options_stay_home(server, scripted):
    q = DNSRecord.question("private.example.com")
    q.header.cd = 1
    ecs = EDNSOption(8, bytes.fromhex("00011800c0a801"))  # Client Subnet 192.168.1.0/24
    cookie = EDNSOption(10, bytes.fromhex("0102030405060708"))
    unknown = EDNSOption(65001, b"who am I")
    q.add_ar(EDNS0(udp_len=4096, flags="do", opts=[ecs, cookie, unknown]))
    reply = DNSRecord.parse(send_raw(server.port, q.pack()))
    assert reply.header.rcode == RCODE.NOERROR
    sent, _ = scripted.queries_for("private.example.com.")[0]
    seen = DNSRecord.parse(sent)
    assert seen.header.cd == 1 and seen.header.rd == 1, "CD and RD are kept"
    (opt,) = [r for r in seen.ar if r.rtype == QTYPE.OPT]
    assert opt.rclass == 1232, "UDP size advertised is at most 1232"
    assert opt.ttl & 0x8000, "DO is kept"
    assert opt.rdata == [], "no options go upstream"
    assert len(sent) == _question_end(sent) + 11, "nothing else follows our OPT record"
    assert b"\xc0\xa8\x01" not in sent and b"who am I" not in sent


def test_no_edns_from_the_client_means_none_upstream(server, scripted):
    ask(server.port, "plain.example.com")
    sent, _ = scripted.queries_for("plain.example.com.")[0]
    assert DNSRecord.parse(sent).ar == [] and len(sent) == _question_end(sent)


def _question_end(packet: bytes) -> int:
    pos = 12
    while packet[pos]:
        pos += 1 + packet[pos]
    return pos + 5


# -- 6. an outage --------------------------------------------------------------------------


def test_an_outage_answers_at_once_and_a_probe_notices_the_upstream_coming_back(scripted, clock):
    st = start_server(scripted, clock, timeout=2.0, outage_window=300, probe_interval=0.05)
    try:
        names = [f"page{i}.example.com" for i in range(20)]
        for name in ["first.example.com", *names]:
            assert ask(st.port, name).rr[0].ttl == 60
        clock.now += 600  # every answer long expired
        scripted.mode = "silent"
        started = time.monotonic()
        first = ask(st.port, "first.example.com", timeout=5)
        assert time.monotonic() - started >= 2.0, "the first failure waits the timeout"
        assert first.rr and first.rr[0].ttl == 30, "then serves the stale answer"
        latencies = []
        for name in names:
            started = time.monotonic()
            stale = ask(st.port, name)
            latencies.append(time.monotonic() - started)
            assert str(stale.rr[0].rdata) == ScriptedUpstream.ADDRESS and stale.rr[0].ttl == 30
            assert len(scripted.queries_for(name + ".")) == 1, "not asked again in the outage"
        assert statistics.median(latencies) < 0.05 and max(latencies) < 0.5, latencies
        started = time.monotonic()
        never_seen = ask(st.port, "new.example.com")
        assert never_seen.header.rcode == RCODE.SERVFAIL
        assert time.monotonic() - started < 0.5
        assert scripted.queries_for("new.example.com.") == []
        probes = wait_for(lambda: scripted.queries_for("."), "a health probe")
        assert probes, "the probe asks the down server while it is silent"

        scripted.mode = "answer"  # it comes back; the probe, not a client, notices
        pool = st.resolver.upstreams
        wait_for(lambda: not pool.servers[0].down, "the probe to see the upstream back")
        assert not pool.all_down()
        back = ask(st.port, "new.example.com")
        assert str(back.rr[0].rdata) == ScriptedUpstream.ADDRESS
        assert ask(st.port, names[0]).rr[0].ttl == 60, "fresh answers again"
    finally:
        st.stop()


def test_after_the_window_the_upstream_is_tried_again(scripted, clock):
    st = start_server(scripted, clock, timeout=0.3, outage_window=10, probe_interval=3600)
    try:
        scripted.mode = "silent"
        assert ask(st.port, "a.example.com").header.rcode == RCODE.SERVFAIL
        assert ask(st.port, "b.example.com").header.rcode == RCODE.SERVFAIL
        assert scripted.queries_for("b.example.com.") == [], "failed fast inside the window"
        clock.now += 11
        scripted.mode = "answer"
        assert str(ask(st.port, "b.example.com").rr[0].rdata) == ScriptedUpstream.ADDRESS
    finally:
        st.stop()
