"""Upstream answers that lead somewhere else: CNAME/DNAME/HTTPS chains to a blocked app, DNS
rebinding to home-network addresses, an upstream's own 0.0.0.0 blocks, and RFC 9462 discovery.

End to end: real packets over loopback (UDP and TCP, A and AAAA) to the real agent, set up with
the real CLI, forwarding to a misbehaving upstream on loopback. Then `read_facts` on its own."""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

import pytest
from dnslib import CNAME, QTYPE, RCODE, RR, DNSRecord

from agent import config as config_mod
from agent.cli import main as cli
from agent.dns import answers
from agent.store.querylog import recent

from agenttools import TZ, RunningAgent, until, write_config
from dnstools import Upstream, ZoneResolver, ask

SAM, ALEX, PARENT = "127.0.0.2", "127.0.0.3", "127.0.0.4"

# What a misbehaving (or hijacked) upstream answers, by (name, type).
CANNED = {
    ("innocent.example", "A"): """
innocent.example. 300 IN CNAME www.tiktok.com.
www.tiktok.com.   300 IN A     192.0.2.10""",
    ("innocent.example", "AAAA"): """
innocent.example. 300 IN CNAME www.tiktok.com.
www.tiktok.com.   300 IN AAAA  2001:db8::10""",
    ("cached.example", "A"): """
cached.example.   300 IN CNAME cdn.example.
cdn.example.      300 IN CNAME www.tiktok.com.
www.tiktok.com.   300 IN A     192.0.2.10""",
    ("svc.innocent.example", "HTTPS"): """
svc.innocent.example. 300 IN HTTPS 1 www.tiktok.com. alpn=h2""",
    ("doh-front.example", "A"): """
doh-front.example. 300 IN CNAME dns.google.
dns.google.       300 IN A     192.0.2.30""",
    ("school.example", "A"): """
school.example.   300 IN CNAME www.tiktok.com.
www.tiktok.com.   300 IN A     192.0.2.10""",
    ("fine.example", "A"): """
fine.example.     300 IN CNAME cdn.example.
cdn.example.      300 IN A     192.0.2.20""",
    ("safe-looking.example", "A"): """
safe-looking.example. 300 IN CNAME www.google.co.uk.
www.google.co.uk.     300 IN A     192.0.2.13""",
    ("rebind.example", "A"): "rebind.example. 30 IN A 192.168.1.1",
    ("loopback.example", "A"): "loopback.example. 30 IN A 127.0.0.1",
    ("loopback.example", "AAAA"): "loopback.example. 30 IN AAAA ::1",
    ("cgnat.example", "A"): "cgnat.example. 30 IN A 100.64.0.1",
    ("linklocal.example", "AAAA"): "linklocal.example. 30 IN AAAA fe80::1",
    ("mapped.example", "AAAA"): "mapped.example. 30 IN AAAA ::ffff:a00:1",
    ("hint.example", "HTTPS"): "hint.example. 30 IN HTTPS 1 . ipv4hint=10.1.2.3",
    ("router.lan", "A"): "router.lan. 30 IN A 192.168.1.1",
    ("printer", "A"): "printer. 30 IN A 192.168.1.8",
    ("printer.home.arpa", "A"): "printer.home.arpa. 30 IN A 192.168.1.7",
    ("nas.fritz.box", "A"): "nas.fritz.box. 30 IN A 192.168.178.20",
    ("public.example", "A"): "public.example. 30 IN A 198.51.100.7",
    ("sinkholed.example", "A"): "sinkholed.example. 30 IN A 0.0.0.0",
    ("sinkholed.example", "AAAA"): "sinkholed.example. 30 IN AAAA ::",
}


class Misbehaving(ZoneResolver):
    """Answers the canned records above (and a DNAME) whatever DNSSEC or sense would say."""

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord | None:
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        self.asked[(qname + ".", qtype)] += 1
        reply = request.reply()
        if qname.endswith(".dname.example") and qtype == "A":
            reply.add_answer(RR("dname.example", 39, ttl=300, rdata=CNAME("tiktok.com")))
            target = qname.removesuffix("dname.example") + "tiktok.com"
            reply.add_answer(RR(qname, QTYPE.CNAME, ttl=300, rdata=CNAME(target)))
            return reply
        for rr in RR.fromZone(CANNED.get((qname, qtype), "")):
            reply.add_answer(rr)
        if not reply.rr:
            reply.add_auth(self.soa)
        return reply


@pytest.fixture
def upstream():
    up = Upstream(Misbehaving()).start()
    yield up
    up.stop()


@pytest.fixture
def household(tmp_path, upstream):
    """Sam (11), Alex (15) and a parent's laptop, set up with the real CLI; fritz.box is one
    of the home's own domains."""
    path = write_config(tmp_path, upstream.address)
    path.write_text(path.read_text().replace("[dns]\n", '[dns]\nlocal_domains = ["fritz.box"]\n'))
    today = datetime.now(TZ).date()
    commands = [
        ["child", "add", "Sam", "--born", _born(today, 11)],
        ["child", "add", "Alex", "--born", _born(today, 15)],
        ["device", "add", "--ip", SAM, "--name", "Sam's tablet", "--child", "Sam"],
        ["device", "add", "--ip", ALEX, "--name", "Alex's phone", "--child", "Alex"],
        ["device", "add", "--ip", PARENT, "--name", "Parent laptop", "--adult"],
    ]
    for argv in commands:
        assert cli(["--config", str(path), *argv]) == 0, argv
    return path


def _born(today, years: int) -> str:
    return (today.replace(year=today.year - years) - timedelta(days=30)).isoformat()


def _rows(path) -> list:
    return recent(config_mod.load(path).database_path, 500)


def _addresses(reply: DNSRecord) -> list[str]:
    return [str(r.rdata) for r in reply.rr if r.rtype in (QTYPE.A, QTYPE.AAAA)]


def test_a_cname_to_tiktok_is_blocked_for_an_11_year_old_and_answered_for_an_adult(
    household, upstream
):
    with RunningAgent(config_mod.load(household)) as running:
        port = running.port
        for qtype, tcp in (("A", False), ("A", True), ("AAAA", False), ("AAAA", True)):
            sam = ask(port, "innocent.example", qtype, source=SAM, tcp=tcp)
            assert sam.header.rcode == RCODE.NXDOMAIN and not sam.rr, (qtype, tcp)
            parent = ask(port, "innocent.example", qtype, source=PARENT, tcp=tcp)
            assert parent.header.rcode == RCODE.NOERROR, (qtype, tcp)
            assert str(parent.rr[0].rdata) == "www.tiktok.com."
            assert _addresses(parent) == ["192.0.2.10" if qtype == "A" else "2001:db8::10"]
        # Alex is 15: TikTok (13+) is fine for Alex, from the same shared cache entry
        assert _addresses(ask(port, "innocent.example", source=ALEX)) == ["192.0.2.10"]
        assert upstream.resolver.asked[("innocent.example.", "A")] == 1, "one upstream query"
        assert running.agent.writer.flush(5)
    sam_rows = [r for r in _rows(household) if r.client == SAM and r.name == "innocent.example"]
    assert len(sam_rows) == 4 and {r.action for r in sam_rows} == {"block"}
    row = sam_rows[0]
    assert (row.rule, row.app) == ("age:tiktok", "tiktok")
    assert row.reason.startswith("innocent.example led to TikTok: TikTok is for 13+")
    parent_rows = [r for r in _rows(household) if r.client == PARENT]
    assert parent_rows and {r.action for r in parent_rows} == {"allow"}


def test_a_cached_chain_is_checked_again_for_each_device(household, upstream):
    with RunningAgent(config_mod.load(household)) as running:
        port = running.port
        # the adult fills the cache; Sam's questions are then answered from it
        assert _addresses(ask(port, "cached.example", source=PARENT)) == ["192.0.2.10"]
        for tcp in (False, True, False):
            assert ask(port, "cached.example", source=SAM, tcp=tcp).header.rcode == RCODE.NXDOMAIN
        assert _addresses(ask(port, "cached.example", source=PARENT)) == ["192.0.2.10"]
        assert upstream.resolver.asked[("cached.example.", "A")] == 1, "all from the cache"
        assert running.agent.writer.flush(5)
    rows = [r for r in _rows(household) if r.client == SAM and r.name == "cached.example"]
    assert rows and all(r.action == "block" and "led to TikTok" in r.reason for r in rows)


def test_https_targets_dname_chains_and_chains_to_a_doh_resolver_are_checked_too(household):
    with RunningAgent(config_mod.load(household)) as running:
        port = running.port
        sam = ask(port, "svc.innocent.example", "HTTPS", source=SAM)
        assert sam.header.rcode == RCODE.NXDOMAIN and not sam.rr
        parent = ask(port, "svc.innocent.example", "HTTPS", source=PARENT)
        assert parent.rr and parent.rr[0].rtype == QTYPE.HTTPS
        assert ask(port, "www.dname.example", source=SAM).header.rcode == RCODE.NXDOMAIN
        assert ask(port, "www.dname.example", source=PARENT).rr
        # a name in front of a DoH resolver is held back for Alex (15) too: bypass protection
        assert ask(port, "doh-front.example", source=ALEX).header.rcode == RCODE.NXDOMAIN
        assert _addresses(ask(port, "doh-front.example", source=PARENT)) == ["192.0.2.30"]
        assert running.agent.writer.flush(5)
    rows = [r for r in _rows(household) if r.name == "doh-front.example" and r.client == ALEX]
    assert rows[0].rule == "protection:bypass" and "doh-front.example led to dns.google" in (
        rows[0].reason
    )


def test_a_name_a_parent_allowed_by_name_is_trusted_wherever_it_leads(household):
    with RunningAgent(config_mod.load(household)) as running:
        assert ask(running.port, "school.example", source=SAM).header.rcode == RCODE.NXDOMAIN
        allow = ["--config", str(household), "rule", "allow", "Sam", "--domain", "school.example"]
        assert cli(allow) == 0
        until(lambda: _addresses(ask(running.port, "school.example", source=SAM)) != [], 5.0)
        assert _addresses(ask(running.port, "school.example", source=SAM)) == ["192.0.2.10"]


def test_a_chain_to_nothing_blocked_passes_and_a_chain_round_safe_search_does_not(household):
    with RunningAgent(config_mod.load(household)) as running:
        port = running.port
        assert _addresses(ask(port, "fine.example", source=SAM)) == ["192.0.2.20"]
        # www.google.co.uk asked by name is rewritten to safe search; reached by a CNAME it
        # would not be, so the chain is held back for children and passes for adults
        assert ask(port, "safe-looking.example", source=ALEX).header.rcode == RCODE.NXDOMAIN
        assert _addresses(ask(port, "safe-looking.example", source=PARENT)) == ["192.0.2.13"]


@pytest.mark.parametrize(
    ("name", "qtype", "address"),
    [
        ("rebind.example", "A", "192.168.1.1"),
        ("loopback.example", "A", "127.0.0.1"),
        ("loopback.example", "AAAA", "::1"),
        ("cgnat.example", "A", "100.64.0.1"),
        ("linklocal.example", "AAAA", "fe80::1"),
        ("mapped.example", "AAAA", str(ipaddress.ip_address("::ffff:a00:1"))),
        ("hint.example", "HTTPS", "10.1.2.3"),
    ],
)
def test_public_names_answered_with_home_addresses_are_refused_for_everyone(
    household, name, qtype, address
):
    with RunningAgent(config_mod.load(household)) as running:
        for source, tcp in ((SAM, False), (PARENT, False), (PARENT, True), (PARENT, False)):
            reply = ask(running.port, name, qtype, source=source, tcp=tcp)
            assert reply.header.rcode == RCODE.REFUSED and not reply.rr, (source, tcp)
        assert running.agent.writer.flush(5)
    rows = [r for r in _rows(household) if r.name == name]
    assert len(rows) == 4
    assert all(r.rule == "rebinding" and address in r.reason for r in rows)


def test_the_homes_own_names_may_answer_home_addresses(household):
    with RunningAgent(config_mod.load(household)) as running:
        for name, address in (
            ("router.lan", "192.168.1.1"),
            ("printer", "192.168.1.8"),
            ("printer.home.arpa", "192.168.1.7"),
            ("nas.fritz.box", "192.168.178.20"),  # from [dns] local_domains
            ("public.example", "198.51.100.7"),
        ):
            assert _addresses(ask(running.port, name, source=SAM)) == [address]


def test_an_upstreams_zero_address_is_answered_as_its_block(household):
    with RunningAgent(config_mod.load(household)) as running:
        for qtype, source in (("A", SAM), ("AAAA", PARENT), ("A", PARENT)):
            reply = ask(running.port, "sinkholed.example", qtype, source=source)
            assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr  # our block mode
        assert running.agent.writer.flush(5)
    rows = [r for r in _rows(household) if r.name == "sinkholed.example"]
    assert len(rows) == 3
    assert all(r.action == "block" and r.rule == "upstream-block" for r in rows)
    assert "upstream DNS service" in rows[0].reason


def test_designated_resolver_discovery_gets_nodata_for_everyone(household, upstream):
    with RunningAgent(config_mod.load(household)) as running:
        for source in (SAM, PARENT):
            for qtype in ("SVCB", "A", "AAAA"):
                reply = ask(running.port, "_dns.resolver.arpa", qtype, source=source)
                assert reply.header.rcode == RCODE.NOERROR and not reply.rr, (source, qtype)
                assert reply.auth and reply.auth[0].rtype == QTYPE.SOA
    assert not [k for k in upstream.resolver.asked if k[0] == "_dns.resolver.arpa."]


# -- reading an answer ------------------------------------------------------------------------


def _reply(zone: str, qname: str, qtype: str = "A") -> bytes:
    reply = DNSRecord.question(qname, qtype).reply()
    for rr in RR.fromZone(zone):
        reply.add_answer(rr)
    return bytes(reply.pack())


@pytest.mark.parametrize(
    ("zone", "home", "expected"),
    [
        ("a.example. 1 IN A 198.51.100.1", False, answers.PLAIN),
        ("a.example. 1 IN CNAME B.Example.\nb.example. 1 IN A 198.51.100.1", False, ("b.example",)),
        ("a.example. 1 IN A 172.16.0.1", False, "172.16.0.1"),
        ("a.example. 1 IN A 172.32.0.1", False, answers.PLAIN),
        ("a.example. 1 IN A 100.128.0.1", False, answers.PLAIN),
        ("a.example. 1 IN AAAA fd00::1", False, "fd00::1"),
        ("a.example. 1 IN AAAA 2001:db8::1", False, answers.PLAIN),
        ("a.example. 1 IN A 192.168.0.1", True, answers.PLAIN),
        ("a.example. 1 IN A 0.0.0.0", True, "sinkhole"),
        ("a.example. 1 IN HTTPS 1 alt.example. ipv6hint=::1", False, ("alt.example", "::1")),
    ],
)
def test_read_facts(zone, home, expected):
    facts = answers.read_facts(_reply(zone, "a.example"), "a.example", home)
    if expected is answers.PLAIN:
        assert facts is answers.PLAIN
    elif expected == "sinkhole":
        assert facts.sinkhole
    elif isinstance(expected, tuple) and len(expected) == 2:
        assert facts.names == expected[:1] and facts.rebind == expected[1]
    elif isinstance(expected, tuple):
        assert facts.names == expected and facts.rebind is None
    else:
        assert facts.rebind == expected and not facts.names


def test_an_unreadable_or_endless_answer_is_never_let_through():
    good = _reply("a.example. 1 IN CNAME b.example.", "a.example")
    assert answers.read_facts(good[:-3], "a.example", False).unreadable
    loop = bytearray(good)
    loop[-2:] = b"\xc0" + bytes([len(good) - 2])  # the CNAME target points at itself
    assert answers.read_facts(bytes(loop), "a.example", False).unreadable
    many = "\n".join(f"a.example. 1 IN CNAME n{i}.example." for i in range(40))
    assert answers.read_facts(_reply(many, "a.example"), "a.example", False).unreadable
