"""The box's own name for its household version: answered by the real server over loopback,
never sent upstream, and given only to the home's own networks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from agent import config as config_mod
from agent.dns.boxinfo import NAME
from agent.dns.server import FilterResolver
from agent.rules.decision import ALLOWED
from agent.rules.household import Household
from agent.rules.policy import Policy, PolicyHolder

from dnstools import ServerThread, Upstream, ask


def allow_all(*_: object) -> object:
    return ALLOWED


def make_cfg(upstream: str = "127.0.0.1:9", **dns: object) -> config_mod.Config:
    raw = {"dns": {"listen": ["127.0.0.1:0"], **dns}, "upstream": {"servers": [upstream]}}
    return config_mod.parse(raw, "test", config_mod.Config().base_dir)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream().start()
    yield up
    up.stop()


def test_the_server_says_the_household_version_it_follows(upstream: Upstream) -> None:
    holder = PolicyHolder(Policy(index=None))  # type: ignore[arg-type]
    server = ServerThread(make_cfg(upstream.address), holder, allow_all).start()
    try:
        reply = ask(server.port, NAME, "TXT")
        assert reply.header.rcode == RCODE.NOERROR and reply.header.aa
        assert [str(rr.rdata) for rr in reply.rr] == ['"household=none"']
        holder.update(household=Household(version=7))
        reply = ask(server.port, NAME.upper(), "TXT")
        assert [(str(rr.rdata), rr.ttl) for rr in reply.rr] == [('"household=7"', 0)]
        # other types: the name exists, with nothing of that type; upstream is never asked
        reply = ask(server.port, NAME, "A")
        assert reply.header.rcode == RCODE.NOERROR and reply.rr == []
        assert not [q for q in upstream.resolver.asked if q[0].rstrip(".") == NAME]
        assert ask(server.port, "www.example.com", "A").rr  # while other names go upstream
    finally:
        server.stop()


def version_reply(cfg: config_mod.Config, client: str) -> DNSRecord:
    holder = PolicyHolder(Policy(index=None, household=Household(version=3)))  # type: ignore[arg-type]
    resolver = FilterResolver(cfg, holder, allow_all, own_networks=())
    packet = bytes(DNSRecord.question(NAME, "TXT").pack())
    reply = resolver.answer(packet, client)
    assert isinstance(reply, bytes)
    return DNSRecord.parse(reply)


@pytest.mark.parametrize("client", ["192.168.1.20", "10.0.0.5", "fe80::1%eth0", "::1"])
def test_home_networks_are_told(client: str) -> None:
    reply = version_reply(make_cfg(), client)
    assert [str(rr.rdata) for rr in reply.rr] == ['"household=3"']
    assert QTYPE[reply.rr[0].rtype] == "TXT"


def test_an_open_resolver_tells_only_the_home() -> None:
    cfg = make_cfg(allow_networks=["0.0.0.0/0", "::/0"], open_resolver=True)
    assert version_reply(cfg, "203.0.113.9").header.rcode == RCODE.REFUSED
    assert version_reply(cfg, "2001:db8::9").header.rcode == RCODE.REFUSED
    assert version_reply(cfg, "192.168.1.20").rr


def test_a_network_the_parent_listed_as_the_home_is_told() -> None:
    cfg = make_cfg(allow_networks=["192.168.0.0/16", "198.51.100.0/24"])
    assert version_reply(cfg, "198.51.100.7").rr
