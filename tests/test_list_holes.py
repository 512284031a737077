"""The holes found in the shipped lists (HouseRules issue 14, item 7), each tried over real
loopback against the real agent with the shipped bypass and safe-search files: public
encrypted-DNS resolvers, search hosts that went round safe search, and search engines that
cannot be made safe."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from dnslib import QTYPE, RCODE, RR, A, DNSRecord

from agent import config as config_mod
from agent.cli import main as cli
from agent.store.querylog import recent

from agenttools import TZ, RunningAgent, until, write_config
from dnstools import Upstream, ZoneResolver, ask

SAM, PARENT = "127.0.0.2", "127.0.0.4"
EVERYWHERE = "198.51.100.1"

RESOLVERS = [
    "dns.controld.com",
    "dns.twnic.tw",
    "ordns.he.net",
    "doh.ffmuc.net",
    "odvr.nic.cz",
    "dns.switch.ch",
    "dns.brahma.world",
    "dns.rabbitdns.org",
    "dns.njal.la",
    "resolver2.dns.watch",
    "dns.aa.net.uk",
    # and a few from the public lists the file now carries
    "ams01.dnscry.pt",
    "doh.powerdns.org",
    "doh.la.ahadns.net",
    "abc123.dns.controld.com",
]
REWRITTEN = {
    "html.duckduckgo.com": "safe.duckduckgo.com.",
    "lite.duckduckgo.com": "safe.duckduckgo.com.",
    "cn.bing.com": "strict.bing.com.",
    "ipv6.google.com": "forcesafesearch.google.com.",
}
NO_SAFE_MODE = ["search.brave.com", "www.qwant.com"]


class AnswersEverything(ZoneResolver):
    """An upstream that has an address for every name, so only the box can say no."""

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord | None:
        self.asked[(str(request.q.qname).lower(), QTYPE[request.q.qtype])] += 1
        reply = request.reply()
        if request.q.qtype == QTYPE.A:
            reply.add_answer(RR(request.q.qname, QTYPE.A, ttl=60, rdata=A(EVERYWHERE)))
        return reply


@pytest.fixture
def running(tmp_path):
    up = Upstream(AnswersEverything()).start()
    path = write_config(tmp_path, up.address)
    today = datetime.now(TZ).date()
    born = (today.replace(year=today.year - 11) - timedelta(days=30)).isoformat()
    for argv in (
        ["child", "add", "Sam", "--born", born],
        ["device", "add", "--ip", SAM, "--name", "Sam's tablet", "--child", "Sam"],
        ["device", "add", "--ip", PARENT, "--name", "Parent laptop", "--adult"],
    ):
        assert cli(["--config", str(path), *argv]) == 0, argv
    with RunningAgent(config_mod.load(path)) as agent:
        agent.path = path
        yield agent
    up.stop()


def test_public_encrypted_dns_resolvers_are_blocked_for_a_child(running):
    for name in RESOLVERS:
        assert ask(running.port, name, source=SAM).header.rcode == RCODE.NXDOMAIN, name
        assert [str(r.rdata) for r in ask(running.port, name, source=PARENT).rr] == [EVERYWHERE]
    assert running.agent.writer.flush(5)
    rows = recent(config_mod.load(running.path).database_path, 500)
    blocked = {r.name for r in rows if r.client == SAM and r.rule == "protection:bypass"}
    assert blocked == set(RESOLVERS)


def test_every_search_host_of_a_safe_search_engine_is_rewritten(running):
    for name, target in REWRITTEN.items():
        reply = ask(running.port, name, source=SAM)
        assert reply.rr[0].rtype == QTYPE.CNAME and str(reply.rr[0].rdata) == target, name
        assert str(reply.rr[1].rdata) == EVERYWHERE
        parent = ask(running.port, name, source=PARENT)
        assert [str(r.rdata) for r in parent.rr] == [EVERYWHERE], "adults: no rewrite"


def test_engines_with_no_safe_mode_are_blocked_unless_a_parent_allows_them(running):
    for name in NO_SAFE_MODE:
        assert ask(running.port, name, source=SAM).header.rcode == RCODE.NXDOMAIN, name
        assert [str(r.rdata) for r in ask(running.port, name, source=PARENT).rr] == [EVERYWHERE]
    allow = ["rule", "allow", "Sam", "--domain", "qwant.com"]
    assert cli(["--config", str(running.path), *allow]) == 0

    def qwant_allowed() -> bool:
        return ask(running.port, "www.qwant.com", source=SAM).header.rcode == RCODE.NOERROR

    until(qwant_allowed, 5.0)
    assert ask(running.port, "search.brave.com", source=SAM).header.rcode == RCODE.NXDOMAIN
