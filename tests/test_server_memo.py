"""The DNS server keeps prepared questions past the second, and never past a change.

Real packets over loopback to the real server and a real upstream, with the real rules engine
deciding; the server's wall and monotonic clocks are moved by the test instead of waited for.
A question asked again is not decided again while its decision holds (`decide.holds_until`),
yet a bedtime starts on its second, an unblock ends on its second with TTLs counting down to
it, cached TTLs age every second, and a parent's change is seen by the next query.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from datetime import date, datetime, time

import pytest
from dnslib import QTYPE, RCODE, DNSHeader, DNSQuestion, DNSRecord
from test_rules import CATALOG, INDEX, LISTS, LONDON, SAFESEARCH
from test_server import make_cfg

from agent.config import RulesConfig
from agent.dns import server as server_mod
from agent.lists.index import IndexBuilder, ListIndex
from agent.rules.decide import decide, name_classes
from agent.rules.decision import Decision
from agent.rules.household import Child, Device, Household, Overlay, RuleEntry, Schedule
from agent.rules.policy import Policy, PolicyHolder

from dnstools import DEFAULT_ZONE, ServerThread, Upstream, ZoneResolver, ask, send_raw

SAM = Child(1, "Sam", date(2013, 11, 24))  # 12 on Monday 23 November 2026
PHONE = "127.0.0.5"
BEDTIME = Schedule(1, "Bedtime", 1, frozenset(range(7)), time(21), time(7), block_all=True)
ZONE = DEFAULT_ZONE + "tiktok.com. 300 IN A 192.0.2.11\n"
ZONE += "ok.adult.example. 300 IN A 192.0.2.12\nn500.adult.example. 300 IN A 192.0.2.13\n"


def at(hour: int, minute: int = 0, second: int = 0) -> float:
    """Monday 23 November 2026, London time, as the wall clock reads it."""
    return datetime(2026, 11, 23, hour, minute, second, tzinfo=LONDON).timestamp()


def home(**parts: object) -> Household:
    devices = (Device(1, None, PHONE, "Sam's phone", "child", 1),)
    return Household(children=(SAM,), devices=devices, **parts)  # type: ignore[arg-type]


class Clocks:
    """The server's wall clock and monotonic clock, moved together by `tick`."""

    def __init__(self, wall: float) -> None:
        self.wall, self.mono = wall, 5000.0

    def tick(self, seconds: float = 1.0) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def upstream():
    up = Upstream(ZoneResolver(ZONE)).start()
    yield up
    up.stop()


class Running:
    def __init__(
        self, upstream: Upstream, household: Household, wall: float, index: ListIndex = INDEX
    ) -> None:
        self.clocks = Clocks(wall)
        self.asked: list[str] = []
        self.rows: list[tuple] = []  # the query log's rows
        self.holder = PolicyHolder(Policy(index, household, CATALOG, SAFESEARCH, {}, RulesConfig()))
        self.st = ServerThread(
            make_cfg(upstream.address),
            self.holder,
            self.counting,
            wallclock=lambda: self.clocks.wall,
            monotonic=lambda: self.clocks.mono,
            tz=LONDON,
            submit=self.rows.append,
            classes=name_classes,  # `counting` is the rules engine's decide, counted
        ).start()

    def counting(self, policy: Policy, client: str, name: str, qtype: int, now) -> Decision:
        self.asked.append(name)
        return decide(policy, client, name, qtype, now)

    def ask(self, name: str, qtype: str = "A"):
        return ask(self.st.port, name, qtype, source=PHONE)


@pytest.fixture
def running(request, upstream):
    household, wall, *index = request.param
    r = Running(upstream, household, wall, *index)
    yield r
    r.st.stop()


@pytest.mark.parametrize("running", [(home(schedules=(BEDTIME,)), at(20, 59, 54))], indirect=True)
def test_kept_past_the_second_with_ttls_aging_then_bedtime_starts_on_its_second(running):
    ttls = []
    for _ in range(6):  # 20:59:54 to 20:59:59
        reply = running.ask("example.com")
        assert reply.header.rcode == RCODE.NOERROR
        ttls.append(reply.rr[0].ttl)
        running.clocks.tick()
    assert ttls == [300, 299, 298, 297, 296, 295]  # aged every second, as the cache holds it
    assert running.asked == ["example.com"]  # decided once: bedtime is not on yet
    assert running.ask("example.com").header.rcode == RCODE.NXDOMAIN  # 21:00:00
    assert running.asked == ["example.com"] * 2


UNBLOCKED = Overlay(1, 1, "unblock", datetime.fromtimestamp(at(19, 15, 3), LONDON),
                    target_kind="app", target="tiktok")  # fmt: skip


@pytest.mark.parametrize("running", [(home(overlays=(UNBLOCKED,)), at(19, 15))], indirect=True)
def test_an_unblock_counts_its_ttls_down_to_its_end_then_ends_on_its_second(running):
    """Sam is 12: TikTok is for 13 and over, and a parent unblocked it until 19:15:03."""
    for left in (3, 2, 1):
        reply = running.ask("tiktok.com")
        assert reply.header.rcode == RCODE.NOERROR
        assert str(reply.rr[0].rdata) == "192.0.2.11" and reply.rr[0].ttl <= left
        running.clocks.tick()
    assert running.ask("tiktok.com").header.rcode == RCODE.NXDOMAIN  # 19:15:03


@pytest.mark.parametrize("running", [(home(), at(12))], indirect=True)
def test_a_parents_change_is_seen_by_the_next_query_whatever_the_memo_holds(running):
    assert running.ask("example.com").header.rcode == RCODE.NOERROR
    running.clocks.tick()
    assert running.ask("example.com").header.rcode == RCODE.NOERROR
    assert running.asked == ["example.com"]
    blocked = home(rules=(RuleEntry(1, "block", "domain", "example.com"),))
    running.holder.update(household=blocked)  # the clock has not moved
    assert running.ask("example.com").header.rcode == RCODE.NXDOMAIN
    assert running.asked == ["example.com"] * 2


@pytest.mark.parametrize("running", [(home(), at(12, 0, 58))], indirect=True)
def test_kept_to_the_end_of_the_minute_at_most(running):
    """Nothing in this household changes with time until midnight, yet a prepared question
    is made again each minute: a bound on anything a horizon might miss."""
    running.ask("example.com")
    running.clocks.tick()
    running.ask("example.com")  # 12:00:59
    assert running.asked == ["example.com"]
    running.clocks.tick()
    running.ask("example.com")  # 12:01:00
    assert running.asked == ["example.com"] * 2


@pytest.mark.parametrize("running", [(home(schedules=(BEDTIME,)), at(21, 0, 10))], indirect=True)
def test_a_clock_set_back_is_decided_again(running):
    """A Pi has no clock of its own: it may start with a time ahead and be set back once it
    reaches a time server. Nothing kept from the later time may answer the earlier one."""
    assert running.ask("example.com").header.rcode == RCODE.NXDOMAIN  # bedtime
    running.clocks.wall = at(20, 59, 0)
    assert running.ask("example.com").header.rcode == RCODE.NOERROR


BLOCKED_HERE = home(rules=(RuleEntry(1, "block", "domain", "blocked.example"),))


def reaching_python(running: Running) -> tuple[Callable[..., object], list[bytes]]:
    """`FilterResolver.answer` as it was, and the packets that reach it from now on: what the
    compiled front end (when built here) did not answer itself."""
    if not isinstance(running.st.server._udp[0], server_mod.BatchedUdp):
        pytest.skip("the compiled fast path is not built here")
    resolver = running.st.resolver
    python = resolver.answer
    reached: list[bytes] = []

    def counting(data: bytes, client: str, *args: object) -> object:
        reached.append(data)
        return python(data, client, *args)

    resolver.answer = counting
    return python, reached


def names_in(packets: list[bytes]) -> list[str]:
    return [str(DNSRecord.parse(p).q.qname).rstrip(".") for p in packets]


@pytest.mark.parametrize("running", [(BLOCKED_HERE, at(12))], indirect=True)
def test_what_the_compiled_front_end_answers_from_the_memo_is_what_python_would(running):
    """Repeats are answered in C by the UDP front end (`replay_batch`), never reaching
    `FilterResolver.answer`: the same bytes, log rows and counts as `answer` gives them."""
    resolver = running.st.resolver
    python, answered = reaching_python(running)
    for name, misses in (("blocked.example", 1), ("example.com", 2)):
        answered.clear()
        packets = [DNSRecord(DNSHeader(id=i, rd=1), q=DNSQuestion(name)).pack() for i in (1, 2, 3)]
        packets = [bytes(p) for p in packets]  # dnslib packs a bytearray
        before = (sum(resolver.blocked.values()), resolver.from_cache, len(running.rows))
        replies = [send_raw(running.st.port, p, source=PHONE) for p in packets]
        assert answered == packets[:misses]  # the first is prepared (and loaded) in Python
        assert len(running.rows) == before[2] + 3  # a row for every answer, C's too
        if name == "blocked.example":
            assert sum(resolver.blocked.values()) == before[0] + 3
        else:  # the first from upstream, then one from the cache in Python and one in C
            assert resolver.from_cache == before[1] + 2
        rows, counts = running.rows[-1], (dict(resolver.blocked), resolver.from_cache)

        async def in_python(packet: bytes) -> object:
            return python(packet, PHONE)

        assert running.st.call(in_python(packets[-1])) == replies[-1]
        assert running.rows[-1] == rows  # the same row once more
        if name == "blocked.example":
            assert DNSRecord.parse(replies[-1]).header.rcode == RCODE.NXDOMAIN
            assert sum(resolver.blocked.values()) == sum(counts[0].values()) + 1
        else:
            assert resolver.from_cache == counts[1] + 1
    assert running.asked == ["blocked.example", "example.com"]


@pytest.mark.parametrize("running", [(home(), at(12))], indirect=True)
def test_a_memo_that_cannot_be_turned_costs_answers_not_the_server(running):
    """Should the memo's turn ever fail, each packet gets SERVFAIL from `answer` (which logs
    the error), the front end goes on reading, and the next turn that works answers again."""
    assert running.ask("example.com").header.rcode == RCODE.NOERROR
    resolver = running.st.resolver
    turn = resolver._turn

    def broken(ts: float, policy: Policy) -> None:
        raise RuntimeError("a bug in the horizon")

    resolver._turn = broken
    running.clocks.tick()  # a new second: the memo turns
    for _ in range(2):
        assert running.ask("example.com").header.rcode == RCODE.SERVFAIL
    resolver._turn = turn
    assert running.ask("example.com").header.rcode == RCODE.NOERROR


def with_a_second_list() -> ListIndex:
    """The test lists, and a gambling list that also claims two.adult.example."""
    builder = IndexBuilder()
    for domain, source, category, app_id in CATALOG.index_entries():
        builder.add(domain, source, category, app_id)
    for (source, category), names in LISTS.items():
        builder.add_many(names, source, category)
    builder.add("two.adult.example", "more-gambling", "gambling")
    return builder.build()


def burst(port: int, packets: list[bytes]) -> list[bytes]:
    """The packets sent from Sam's phone a hundred at once (what a socket's buffer holds of
    the replies), a reply read for each."""
    replies: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((PHONE, 0))
        s.settimeout(5)
        for start in range(0, len(packets), 100):
            for packet in packets[start : start + 100]:
                s.sendto(packet, ("127.0.0.1", port))
            replies += [s.recv(4096) for _ in packets[start : start + 100]]
    return replies


def query(name: str, ident: int) -> bytes:
    return bytes(DNSRecord(DNSHeader(id=ident, rd=1), q=DNSQuestion(name, QTYPE.A)).pack())


ALLOWED_HERE = home(rules=(RuleEntry(1, "allow", "domain", "ok.adult.example"),))


@pytest.mark.parametrize("running", [(ALLOWED_HERE, at(12), with_a_second_list())], indirect=True)
def test_a_flood_of_listed_names_is_blocked_after_one_decision(running):
    """Sam (12) asks hundreds of different names one adult list claims, as a child trying
    names in turn would. The first is decided; every other is blocked by the compiled front
    end from that block, kept for the list's claim set (`decide.name_classes`): the same
    bytes, row and count Python gives. A name a parent's rule names, a name a second list
    claims, and every name after the parent's change are decided as before."""
    resolver = running.st.resolver
    python, reached = reaching_python(running)
    assert running.ask("n0.adult.example").header.rcode == RCODE.NXDOMAIN  # decided
    names = [f"n{i}.adult.example" for i in range(1, 400)]
    packets = [query(name, ident=i) for i, name in enumerate(names)]
    rows, blocked = len(running.rows), sum(resolver.blocked.values())
    replies = burst(running.st.port, packets)
    assert running.asked == ["n0.adult.example"] and names_in(reached) == ["n0.adult.example"]
    assert sum(resolver.blocked.values()) == blocked + len(names)
    flood = running.rows[rows:]
    assert sorted(row[1][3] for row in flood) == sorted(names)
    assert {(row[1][0], row[1][2], row[1][4], row[4]) for row in flood} == {
        (PHONE, "Sam", "A", False)
    }
    by_name = {DNSRecord.parse(reply).q.qname.idna()[:-1]: reply for reply in replies}
    for name, packet in zip(names[:50], packets, strict=False):

        async def in_python(packet: bytes = packet) -> object:
            return python(packet, PHONE)

        assert running.st.call(in_python()) == by_name[name]  # the same bytes
        assert running.rows[-1][1] == next(r[1] for r in flood if r[1][3] == name)

    reached.clear()
    ok = running.ask("ok.adult.example")  # a parent's rule names it: allowed
    assert ok.header.rcode == RCODE.NOERROR and str(ok.rr[0].rdata) == "192.0.2.12"
    assert running.ask("two.adult.example").header.rcode == RCODE.NXDOMAIN  # two lists
    assert names_in(reached) == ["ok.adult.example", "two.adult.example"]
    assert running.asked[-2:] == ["ok.adult.example", "two.adult.example"]

    assert running.ask("n400.adult.example", "AAAA").header.rcode == RCODE.NXDOMAIN
    assert running.ask("n401.adult.example", "AAAA").header.rcode == RCODE.NXDOMAIN
    assert running.asked[-1] == "n400.adult.example"  # the first AAAA only

    running.holder.update(household=home(rules=(RuleEntry(1, "allow", "domain", "adult.example"),)))
    allowed = running.ask("n500.adult.example")  # the clock has not moved
    assert allowed.header.rcode == RCODE.NOERROR and str(allowed.rr[0].rdata) == "192.0.2.13"
    assert running.asked[-1] == "n500.adult.example"


@pytest.mark.parametrize("running", [(home(), at(12, 0, 5))], indirect=True)
def test_cached_answers_age_in_the_compiled_front_end_as_a_load_from_the_cache_would(running):
    """A cached answer asked again seconds later is aged by the compiled front end (its TTLs
    down by the whole seconds since it was stored), never reaching `answer`: the same bytes
    as Python's load from the cache gives at that moment."""
    resolver = running.st.resolver
    python, answered = reaching_python(running)
    packet = query("example.com", ident=11)
    first = send_raw(running.st.port, packet, source=PHONE)  # from upstream, stored
    assert DNSRecord.parse(first).rr[0].ttl == 300
    send_raw(running.st.port, packet, source=PHONE)  # loaded from the cache, in Python
    assert len(answered) == 2
    for seconds, ttl in ((1, 299), (1, 298), (7, 291), (0.5, 291), (0.5, 290)):
        running.clocks.tick(seconds)
        reply = send_raw(running.st.port, packet, source=PHONE)
        assert DNSRecord.parse(reply).rr[0].ttl == ttl
        assert len(answered) == 2  # aged in C
        prepared = resolver._memo[(PHONE, packet[2:])]

        async def loaded_in_python(prepared=prepared) -> object:
            prepared.expires, prepared.aging = float("-inf"), None  # as if never aged
            return python(packet, PHONE)

        assert running.st.call(loaded_in_python()) == reply
    assert running.asked == ["example.com"]


@pytest.mark.parametrize("running", [(ALLOWED_HERE, at(12), with_a_second_list())], indirect=True)
def test_random_questions_get_from_the_compiled_front_end_what_python_gives(running):
    """Hundreds of random questions from Sam's phone, built to meet every edge of blocking by
    class: listed and unlisted names, a name a rule names, one two lists claim, the box's own
    name, mixed case, odd bytes in a label, other types, EDNS with and without DO. Every reply
    is the reply Python's `answer` gives the same packet."""
    import random

    if not isinstance(running.st.server._udp[0], server_mod.BatchedUdp):
        pytest.skip("the compiled fast path is not built here")
    rng = random.Random(1934)
    suffixes = [b"adult.example", b"Adult.EXAMPLE", b"two.adult.example", b"ok.adult.example",
                b"example.com", b"bet365.com", b"version.houserules.home.arpa", b"adult.examplE",
                b"evil.example", b"dns.google"]  # fmt: skip
    labels = [b"www", b"A", b"x-1", b"\xe9t\xe9", b"n\x00l", b"UPPER", b"a.b"]
    packets = []
    for ident in range(600):
        name = rng.choice(suffixes)
        for _ in range(rng.randrange(0, 3)):
            name = rng.choice(labels) + b"." + name
        wire_name = b"".join(bytes([len(part)]) + part for part in name.split(b".")) + b"\0"
        qtype = rng.choice([1, 1, 1, 28, 28, 16, 15, 65])
        edns = rng.random() < 0.4
        flags = rng.choice([0x0100, 0x0100, 0x0000, 0x0110])
        header = struct.pack(">HHHHHH", ident, flags, 1, 0, 0, 1 if edns else 0)
        opt = b"\0" + struct.pack(">HHIH", 41, 1232, rng.choice([0, 0x8000]), 0) if edns else b""
        packets.append(header + wire_name + struct.pack(">HH", qtype, 1) + opt)
    replies = burst(running.st.port, packets)
    decided = len(running.asked)
    by_ident = {struct.unpack_from(">H", reply)[0]: reply for reply in replies}
    assert len(by_ident) == len(packets)
    resolver = running.st.resolver

    async def in_python(packet: bytes) -> tuple[object, bool]:
        reply = resolver.answer(packet, PHONE)
        if asyncio.iscoroutine(reply):  # allowed, and asked upstream
            return await reply, True
        return reply, False

    for packet in packets:
        ident = struct.unpack_from(">H", packet)[0]
        python, upstream = running.st.call(in_python(packet))
        if upstream and RCODE.SERVFAIL in (python[3] & 15, by_ident[ident][3] & 15):
            continue  # an upstream too slow once on a busy machine: nothing blocked either way
        assert python == by_ident[ident], packet
    distinct = len({packet[2:] for packet in packets})  # each decided once without classes
    print(f"{decided} decided for {distinct} distinct questions: the rest blocked by class")
    assert 0 < decided < distinct - 150
