"""The DNS server end to end: real packets over loopback to the real server and upstream."""

from __future__ import annotations

import random
import socket
import struct

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from agent import config as config_mod
from agent.dns import server as server_mod
from agent.dns import wire
from agent.rules.decision import ALLOWED, Action, Decision, RuleKind, RuleRef
from agent.rules.policy import Policy, PolicyHolder
from agent.store.logpipe import flat_row
from agent.store.querylog import LogEntry

from agenttools import until
from dnstools import BlackHole, ForgedSender, ServerThread, Upstream, ask, forged_sources, send_raw

BLOCKED = ("tracker.test",)
REWRITES = {"www.google.com": "forcesafesearch.google.com"}


def decide(policy: Policy, client: str, name: str, qtype: int, now: object) -> Decision:
    """A stand-in for the rules engine: suffix blocks and one rewrite."""
    for suffix in BLOCKED:
        if name == suffix or name.endswith("." + suffix):
            return Decision(
                Action.BLOCK,
                "Blocked by a test list",
                rule=RuleRef(RuleKind.LIST, "test"),
                category="test",
            )
    if name in REWRITES:
        return Decision(
            Action.REWRITE,
            "Safe search",
            rule=RuleRef(RuleKind.SAFE_SEARCH, "google"),
            rewrite_to=REWRITES[name],
        )
    if name == "use-application-dns.net":
        return Decision(Action.BLOCK, "canary", rule=RuleRef(RuleKind.CANARY), nxdomain=True)
    return ALLOWED


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_cfg(*upstreams: str, **dns: object) -> config_mod.Config:
    raw = {
        "dns": {"listen": ["127.0.0.1:0"], "upstream_timeout": 0.3, **dns},
        "upstream": {"servers": list(upstreams), "dead_for": 30},
    }
    return config_mod.parse(raw, "test", config_mod.Config().base_dir)


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture(params=["compiled", "python"])
def server(request, upstream, clock, monkeypatch):
    """The server with the compiled fast path (when built) and without it: every test here
    must pass on a Pi that could not build it too."""
    if request.param == "python":
        monkeypatch.setattr(server_mod, "fastpath", None)
        monkeypatch.setattr(wire, "_parse_c", None)
    elif server_mod.fastpath is None:
        pytest.skip("the compiled fast path is not built here")
    log: list[tuple] = []
    st = ServerThread(
        make_cfg(upstream.address),
        PolicyHolder(Policy(index=None)),  # type: ignore[arg-type]
        decide,
        submit=lambda e: log.append(e) or True,
        monotonic=clock,
    ).start()
    st.log = log
    yield st
    st.stop()


@pytest.mark.parametrize("qtype", ["A", "AAAA", "MX", "TXT", "SRV", "HTTPS"])
def test_allowed_names_resolve_exactly_as_upstream_says(server, upstream, qtype):
    name = {"SRV": "_sip._tcp.example.com", "HTTPS": "svc.example.com"}.get(qtype, "example.com")
    ours = ask(server.port, name, qtype)
    direct = ask(upstream.port, name, qtype)
    assert ours.header.rcode == RCODE.NOERROR
    assert [(str(r.rname), r.rtype, str(r.rdata)) for r in ours.rr] == [
        (str(r.rname), r.rtype, str(r.rdata)) for r in direct.rr
    ]
    assert ours.rr, "the upstream has records for this name"


def test_ptr_forwards_unchanged(server):
    reply = ask(server.port, "34.216.184.93.in-addr.arpa", "PTR")
    assert str(reply.rr[0].rdata) == "example.com."


def test_reply_id_and_question_match_the_request_even_with_mixed_case(server):
    q = DNSRecord.question("ExAmPlE.CoM", "A")
    for _ in range(2):  # a miss, then a cache hit
        raw = send_raw(server.port, q.pack())
        assert raw[:2] == q.pack()[:2]
        assert str(DNSRecord.parse(raw).q.qname) == "ExAmPlE.CoM."


@pytest.mark.parametrize("name", ["tracker.test", "ads.tracker.test", "sub.ads.tracker.test"])
def test_blocked_names_and_their_subdomains_are_blocked(server, upstream, name):
    reply = ask(server.port, name)
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert reply.auth and reply.auth[0].ttl == 10  # the block TTL, via the SOA minimum
    assert upstream.resolver.asked[(name + ".", "A")] == 0, "blocked names never leave the box"


def test_a_name_that_only_ends_with_the_same_letters_is_not_blocked(server):
    assert ask(server.port, "badtracker.test").header.rcode == RCODE.NOERROR


def test_null_block_mode_answers_zero_addresses(upstream):
    st = ServerThread(
        make_cfg(upstream.address, block_mode="null", block_ttl=7),
        PolicyHolder(Policy(index=None)),
        decide,
    ).start()  # type: ignore[arg-type]
    try:
        a, aaaa, mx = (ask(st.port, "ads.tracker.test", t) for t in ("A", "AAAA", "MX"))
        assert (str(a.rr[0].rdata), a.rr[0].ttl) == ("0.0.0.0", 7)
        assert str(aaaa.rr[0].rdata) == "::"
        assert mx.header.rcode == RCODE.NOERROR and not mx.rr
        canary = ask(st.port, "use-application-dns.net")
        assert canary.header.rcode == RCODE.NXDOMAIN, "the canary is NXDOMAIN whatever the mode"
    finally:
        st.stop()


def test_answers_are_cached_and_ttl_counts_down_then_expires(server, upstream, clock):
    first = ask(server.port, "www.example.com")
    clock.now += 25
    second = ask(server.port, "www.example.com")
    assert upstream.resolver.asked[("www.example.com.", "A")] == 1
    assert (first.rr[0].ttl, second.rr[0].ttl) == (60, 35)
    clock.now += 36
    third = ask(server.port, "www.example.com")
    assert upstream.resolver.asked[("www.example.com.", "A")] == 2
    assert third.rr[0].ttl == 60


def test_negative_answers_are_cached_for_the_soa_minimum(server, upstream, clock):
    assert ask(server.port, "nothing.example.org").header.rcode == RCODE.NXDOMAIN
    clock.now += 59
    assert ask(server.port, "nothing.example.org").header.rcode == RCODE.NXDOMAIN
    assert upstream.resolver.asked[("nothing.example.org.", "A")] == 1
    clock.now += 2
    ask(server.port, "nothing.example.org")
    assert upstream.resolver.asked[("nothing.example.org.", "A")] == 2


def test_nodata_is_cached_too(server, upstream):
    for _ in range(3):
        reply = ask(server.port, "www.example.com", "MX")
        assert reply.header.rcode == RCODE.NOERROR and not reply.rr
    assert upstream.resolver.asked[("www.example.com.", "MX")] == 1


def test_failover_when_the_first_upstream_is_dead(upstream):
    dead = BlackHole()
    st = ServerThread(
        make_cfg(dead.address, upstream.address), PolicyHolder(Policy(index=None)), decide
    ).start()  # type: ignore[arg-type]
    try:
        assert str(ask(st.port, "example.com").rr[0].rdata) == "93.184.216.34"
        servers = st.resolver.upstreams.servers
        assert servers[0].timeouts == 1 and servers[1].answered == 1
        # the dead server is now skipped: the next miss goes straight to the live one
        assert ask(st.port, "example.com", "AAAA").rr
        assert servers[0].timeouts == 1
    finally:
        st.stop()
        dead.close()


def test_a_dead_upstream_is_tried_again_when_the_injected_clock_says_so(upstream, clock):
    dead = BlackHole()
    cfg = make_cfg(dead.address, upstream.address)
    holder = PolicyHolder(Policy(index=None))
    st = ServerThread(cfg, holder, decide, monotonic=clock).start()  # type: ignore[arg-type]
    try:
        servers = st.resolver.upstreams.servers
        assert ask(st.port, "example.com").rr and servers[0].timeouts == 1
        clock.now += cfg.upstream.dead_for - 1  # still dead: skipped
        assert ask(st.port, "example.com", "AAAA").rr and servers[0].timeouts == 1
        clock.now += 2  # its time is up: asked first again (and times out again)
        assert ask(st.port, "www.example.com").rr and servers[0].timeouts == 2
    finally:
        st.stop()
        dead.close()


def test_failover_on_servfail(upstream):
    broken = Upstream().start()
    broken.resolver.servfail = True
    st = ServerThread(
        make_cfg(broken.address, upstream.address), PolicyHolder(Policy(index=None)), decide
    ).start()  # type: ignore[arg-type]
    try:
        assert ask(st.port, "example.com").header.rcode == RCODE.NOERROR
    finally:
        st.stop()
        broken.stop()


def test_serve_stale_when_every_upstream_is_dead(clock):
    up = Upstream().start()
    st = ServerThread(
        make_cfg(up.address), PolicyHolder(Policy(index=None)), decide, monotonic=clock
    ).start()  # type: ignore[arg-type]
    try:
        assert ask(st.port, "www.example.com").rr[0].ttl == 60
        up.stop()
        clock.now += 600  # long expired
        stale = ask(st.port, "www.example.com")
        assert str(stale.rr[0].rdata) == "93.184.216.35"
        assert stale.rr[0].ttl == 30
        never_seen = ask(st.port, "other.example.com")
        assert never_seen.header.rcode == RCODE.SERVFAIL
    finally:
        st.stop()


def test_big_answers_are_truncated_over_udp_and_complete_over_tcp(server):
    udp = ask(server.port, "big.example.com", "TXT")
    assert udp.header.tc == 1 and not udp.rr
    tcp = ask(server.port, "big.example.com", "TXT", tcp=True)
    assert tcp.header.tc == 0 and len(tcp.rr) == 40


def test_a_big_answer_from_the_cache_is_truncated_over_udp_every_time(server):
    """Once cached, an answer is served from the memo: whether it fits the client's UDP size
    is settled when it is loaded, and still holds for every packet after that."""
    first = ask(server.port, "big.example.com", "TXT")  # from upstream
    for _ in range(3):  # from the cache, then from the memo
        again = ask(server.port, "big.example.com", "TXT")
        assert again.header.tc == 1 and not again.rr
    assert first.header.tc == 1
    assert len(ask(server.port, "big.example.com", "TXT", tcp=True).rr) == 40
    for _ in range(3):  # a small answer that fits goes whole, from the cache as well
        small = ask(server.port, "example.com", "TXT")
        assert small.header.tc == 0 and small.rr


def test_edns_is_passed_through_and_a_larger_udp_answer_fits(server, upstream):
    reply = ask(server.port, "big.example.com", "TXT", edns=True)
    assert upstream.resolver.edns_seen == 1, "the client's OPT record went upstream"
    assert any(r.rtype == QTYPE.OPT for r in reply.ar)
    # 40 records of ~60 bytes do not fit 1232 bytes either: truncated, then whole over TCP
    assert reply.header.tc == 1
    small = ask(server.port, "example.com", "TXT", edns=True)
    assert small.header.tc == 0 and small.rr and any(r.rtype == QTYPE.OPT for r in small.ar)


def test_client_outside_the_home_networks_is_refused(upstream):
    st = ServerThread(
        make_cfg(upstream.address, allow_networks=["127.0.0.2/32"]),
        PolicyHolder(Policy(index=None)),
        decide,
    ).start()  # type: ignore[arg-type]
    try:
        assert ask(st.port, "example.com", source="127.0.0.1").header.rcode == RCODE.REFUSED
        assert ask(st.port, "example.com", source="127.0.0.2").header.rcode == RCODE.NOERROR
        assert (
            ask(st.port, "example.com", tcp=True, source="127.0.0.1").header.rcode == RCODE.REFUSED
        )
        assert upstream.resolver.asked[("example.com.", "A")] == 1
    finally:
        st.stop()


def test_safe_search_rewrite_answers_cname_with_the_targets_address(server):
    reply = ask(server.port, "www.google.com")
    assert (
        reply.rr[0].rtype == QTYPE.CNAME and str(reply.rr[0].rdata) == "forcesafesearch.google.com."
    )
    assert str(reply.rr[1].rdata) == "216.239.38.120"
    again = ask(server.port, "www.google.com")
    assert [str(r.rdata) for r in again.rr] == [str(r.rdata) for r in reply.rr]


def _compression_loop() -> bytes:
    header = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0)
    return header + b"\xc0\x0c" + b"\x00\x01\x00\x01"


def _overlong_name() -> bytes:
    header = struct.pack(">HHHHHH", 8, 0x0100, 1, 0, 0, 0)
    return header + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01"


def _bad_opt() -> bytes:
    q = DNSRecord.question("example.com").pack()
    return q[:10] + b"\x00\x01" + q[12:] + b"\xff" * 5


MALFORMED = {
    "random bytes": bytes(random.Random(1).getrandbits(8) for _ in range(40)),
    "truncated header": b"\x12\x34\x01",
    "header only": struct.pack(">HHHHHH", 5, 0x0100, 1, 0, 0, 0),
    "compression loop": _compression_loop(),
    "over-long name": _overlong_name(),
    "two questions": struct.pack(">HHHHHH", 9, 0x0100, 2, 0, 0, 0)
    + b"\x01a\x00\x00\x01\x00\x01" * 2,
    "garbage opt": _bad_opt(),
    "empty": b"",
}


@pytest.mark.parametrize("label", list(MALFORMED))
def test_malformed_packets_never_stop_the_server(server, label):
    packet = MALFORMED[label]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        s.sendto(packet, ("127.0.0.1", server.port))
        try:
            reply = s.recvfrom(4096)[0]
        except TimeoutError:
            reply = None  # silence is allowed for packets too broken to answer
    if reply is not None and len(packet) >= 12:
        assert reply[:2] == packet[:2]
        assert reply[3] & 0xF == RCODE.FORMERR
    assert ask(server.port, "example.com").header.rcode == RCODE.NOERROR


def test_random_fuzz_then_normal_query_still_answers(server):
    rng = random.Random(42)
    base = DNSRecord.question("www.example.com").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(300):
            pkt = bytearray(base)
            for _ in range(rng.randint(1, 6)):
                pkt[rng.randrange(len(pkt))] = rng.getrandbits(8)
            s.sendto(
                bytes(pkt[: rng.randint(0, len(pkt))]) if rng.random() < 0.3 else bytes(pkt),
                ("127.0.0.1", server.port),
            )
    assert ask(server.port, "www.example.com").rr


def test_every_answer_is_logged_with_its_decision(server):
    ask(server.port, "example.com")
    ask(server.port, "example.com")
    ask(server.port, "ads.tracker.test")
    flat = [LogEntry(*flat_row(r)) for r in server.log]  # as the writer process reads them
    rows = [(r.name, r.qtype, r.action, r.rule, r.cached) for r in flat]
    assert rows == [
        ("example.com", "A", "allow", "default", False),
        ("example.com", "A", "allow", "default", True),
        ("ads.tracker.test", "A", "block", "list:test", False),
    ]
    assert flat[0].upstream and flat[0].latency_ms is not None
    assert flat[2].client == "127.0.0.1" and flat[2].category == "test"


def test_a_port_in_use_is_a_clear_error_naming_it(upstream):
    """Another DNS server on the port: the message names the address and the likely cause."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        cfg = make_cfg(upstream.address, listen=[f"127.0.0.1:{port}"])
        st = ServerThread(cfg, PolicyHolder(Policy(index=None)), decide)  # type: ignore[arg-type]
        st.thread.start()
        with pytest.raises(server_mod.ListenError) as caught:
            st.call(st.server.start())
        st.call(st.server.close())
        st.loop.call_soon_threadsafe(st.loop.stop)
        st.thread.join(5)
    said = str(caught.value)
    assert said.startswith(f"cannot listen on 127.0.0.1:{port} (UDP): Address already in use")
    assert "another DNS server" in said


def test_forged_source_addresses_leave_every_per_address_table_bounded(server):
    """Each forged source is a new client address: nothing the server keeps per address may
    grow past its bound (the rest of the flood, on the real processes, in
    test_forged_sources.py)."""
    sources = forged_sources(server_mod.ALLOWED_SIZE + 2_000)
    sender = ForgedSender(server.port)
    packet = DNSRecord.question("example.com").pack()
    for source in sources:
        sender.send(packet, source)
    sender.close()
    until(lambda: len(server.log) >= len(sources) * 0.9, 20.0)  # a few may be lost: UDP
    resolver = server.resolver
    assert len(resolver._allowed) <= server_mod.ALLOWED_SIZE
    assert len(resolver._memo) <= server_mod.MEMO_SIZE
    assert not any(isinstance(v, dict) and len(v) > server_mod.ALLOWED_SIZE
                   for v in vars(resolver).values())  # fmt: skip
    assert ask(server.port, "example.com").header.rcode == RCODE.NOERROR


@pytest.mark.parametrize("front", ["compiled", "python"])
def test_an_emptied_memo_is_freed_a_slice_at_a_time_after_the_replies(upstream, front, monkeypatch):
    """When the memo's time is up (here, the minute's end) it starts afresh, but the old one is
    not freed by the answer that empties it (a stall for every packet queued behind it): each
    front end frees a slice of it after its replies have gone. Every question is decided again
    in the new minute."""
    if front == "python":
        monkeypatch.setattr(server_mod, "fastpath", None)
    elif server_mod.fastpath is None:
        pytest.skip("the compiled fast path is not built here")
    asked: list[str] = []

    def counting(policy: Policy, client: str, name: str, qtype: int, now: object) -> Decision:
        asked.append(name)
        return decide(policy, client, name, qtype, now)

    clock = Clock()
    st = ServerThread(
        make_cfg(upstream.address),
        PolicyHolder(Policy(index=None)),  # type: ignore[arg-type]
        counting,
        wallclock=clock,
        monotonic=clock,
    ).start()
    try:
        resolver, names = st.resolver, [f"n{i}.tracker.test" for i in range(300)]
        for name in names:
            assert ask(st.port, name).header.rcode == RCODE.NXDOMAIN
        assert len(resolver._memo) == 300 and asked == names
        clock.now += 1.0  # a new second: the decisions hold (this decide reads no time)
        assert ask(st.port, names[0]).header.rcode == RCODE.NXDOMAIN
        assert len(asked) == 300 and len(resolver._memo) == 300
        clock.now += server_mod.MEMO_LIFE  # past the end of the minute
        assert ask(st.port, names[0]).header.rcode == RCODE.NXDOMAIN  # decided again
        assert asked[-1] == names[0] and len(resolver._memo) == 1

        def waiting() -> int:
            return sum(len(memo) for memo in list(resolver._retired))

        until(lambda: waiting() == 300 - server_mod.TIDY_SLICE, 5.0)
        assert ask(st.port, names[1]).header.rcode == RCODE.NXDOMAIN
        until(lambda: waiting() == 300 - 2 * server_mod.TIDY_SLICE, 5.0)
        assert ask(st.port, names[2]).header.rcode == RCODE.NXDOMAIN
        until(lambda: not resolver._retired, 5.0)
        assert asked[-3:] == names[:3] and len(resolver._memo) == 3
    finally:
        st.stop()


def test_at_most_one_emptied_memo_waits_whatever_the_load(upstream):
    """Answered without a front end (nothing tidies): each new memo frees the one still
    waiting, so what waits stays one memo's worth."""
    clock = Clock()
    resolver = server_mod.FilterResolver(
        make_cfg(upstream.address),
        PolicyHolder(Policy(index=None)),  # type: ignore[arg-type]
        decide,
        wallclock=clock,
        monotonic=clock,
    )
    for second in range(5):
        for i in range(200):
            packet = bytes(DNSRecord.question(f"s{second}n{i}.tracker.test").pack())
            assert DNSRecord.parse(resolver.answer(packet, "127.0.0.1")).header.rcode == 3
        clock.now += server_mod.MEMO_LIFE
        assert len(resolver._retired) <= 1
        assert sum(len(memo) for memo in resolver._retired) <= 200
    assert resolver.tidy()  # 200 waiting: a slice of 128 leaves some
    assert not resolver.tidy(None)  # in a flood: all at once
    assert resolver._retired == [] and not resolver.tidy()
