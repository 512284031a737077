"""The family filter for children, over loopback: the real DNS process and store, two real
upstreams. The "family" one answers 0.0.0.0 (and ::) for a name the normal one resolves.

A child's device gets HouseRules' own block, and the query log says the family filter did it;
an adult's device gets the real address; the shared cache never hands one's answer to the
other, whoever asks first. When the family upstream is dead, children's lookups go to the
normal one, with one warning.
"""

from __future__ import annotations

import logging
import struct
from datetime import date
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE, RR, DNSRecord

from agent import config as config_mod
from agent.config import HostPort
from agent.dns.family import FamilyFilter, provider_for
from agent.store import household as store
from agent.store.querylog import recent

from agenttools import RunningAgent, until, write_config
from dnstools import DEFAULT_ZONE, BlackHole, ScriptedUpstream, Upstream, ZoneResolver, ask

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
NAME = "grownups.example"
OTHER = "elsewhere.example"
NORMAL_ZONE = DEFAULT_ZONE + (
    f"{NAME}. 300 IN A 192.0.2.50\n{NAME}. 300 IN AAAA 2001:db8::50\n{OTHER}. 300 IN A 192.0.2.51\n"
)
FAMILY_ZONE = DEFAULT_ZONE + (
    f"{NAME}. 60 IN A 0.0.0.0\n{NAME}. 60 IN AAAA ::\n{OTHER}. 60 IN A 0.0.0.0\n"
)
CHILD, ADULT, UNKNOWN = "127.0.0.5", "127.0.0.6", "127.0.0.7"


def family_config(
    tmp_path: Path, normal: str, children: str, mode: str = "nxdomain", upstream: str = ""
) -> Path:
    path = write_config(tmp_path, normal)
    text = path.read_text().replace(
        f'servers = ["{normal}"]\n',
        f'servers = ["{normal}"]\nchildren = ["{children}"]\n{upstream}',
    )
    path.write_text(text.replace("[dns]\n", f'[dns]\nblock_mode = "{mode}"\n'))
    return path


def household(running: RunningAgent) -> None:
    """A 9-year-old's tablet and a parent's laptop; 127.0.0.7 is nobody's (youngest rules)."""
    engine = running.engine
    ada = store.add_child(engine, "Ada", date(2017, 6, 1))
    store.add_device(engine, ip=CHILD, name="Ada's tablet", owner="child", child_id=ada.id)
    store.add_device(engine, ip=ADULT, name="Parent laptop", owner="adult")
    # the DNS process has read the household once the parent's laptop gets no safe search
    until(lambda: not is_rewritten(ask(running.port, "www.google.com", source=ADULT)))


def is_rewritten(reply: DNSRecord) -> bool:
    return any(r.rtype == QTYPE.CNAME for r in reply.rr)


@pytest.fixture
def upstreams():
    normal = Upstream(ZoneResolver(NORMAL_ZONE)).start()
    family = Upstream(ZoneResolver(FAMILY_ZONE)).start()
    yield normal, family
    normal.stop()
    family.stop()


def addresses(reply: DNSRecord) -> list[str]:
    return [str(r.rdata) for r in reply.rr if r.rtype in (QTYPE.A, QTYPE.AAAA)]


@pytest.mark.parametrize("first", [ADULT, CHILD])
def test_a_child_gets_the_family_filters_block_and_an_adult_the_address(
    tmp_path, upstreams, first
) -> None:
    normal, family = upstreams
    cfg = config_mod.load(family_config(tmp_path, normal.address, family.address))
    with RunningAgent(cfg) as running:
        household(running)
        order = [first, CHILD if first == ADULT else ADULT]
        for _ in range(3):  # the first answer comes from upstream, the others from the cache
            for source in order:
                reply = ask(running.port, NAME, source=source)
                if source == CHILD:
                    assert reply.header.rcode == RCODE.NXDOMAIN and not reply.rr
                else:
                    assert reply.header.rcode == RCODE.NOERROR
                    assert addresses(reply) == ["192.0.2.50"]
        # the same question in other letters, or over TCP, finds no unfiltered answer either
        assert ask(running.port, NAME.upper(), source=CHILD).header.rcode == RCODE.NXDOMAIN
        assert ask(running.port, NAME, source=CHILD, tcp=True).header.rcode == RCODE.NXDOMAIN
        assert addresses(ask(running.port, NAME.upper(), source=ADULT)) == ["192.0.2.50"]
        aaaa = ask(running.port, NAME, "AAAA", source=CHILD)
        assert aaaa.header.rcode == RCODE.NXDOMAIN
        assert addresses(ask(running.port, NAME, "AAAA", source=ADULT)) == ["2001:db8::50"]
        # a device nobody has claimed gets the youngest child's rules, and the family filter
        assert ask(running.port, NAME, source=UNKNOWN).header.rcode == RCODE.NXDOMAIN
        # names the family filter lets through reach the child as they are
        assert addresses(ask(running.port, "example.com", source=CHILD)) == ["93.184.216.34"]
        assert running.agent.writer.flush(5)
    # each upstream was asked once: the cache kept both answers, and apart
    assert normal.resolver.asked[(NAME + ".", "A")] == 1
    assert family.resolver.asked[(NAME + ".", "A")] == 1
    rows = [r for r in recent(cfg.database_path, 200) if r.name == NAME and r.qtype == "A"]
    child = [r for r in rows if r.client == CHILD]
    adult = [r for r in rows if r.client == ADULT]
    assert len(child) == 5 and len(adult) == 4
    for row in child:
        assert (row.action, row.rule, row.child) == ("block", "family-filter", "Ada")
        assert row.reason == "Blocked by the family filter"
    assert {(r.action, r.rule) for r in adult} == {("allow", "default")}


def test_a_parents_allow_overrules_the_family_filter(tmp_path, upstreams) -> None:
    normal, family = upstreams
    cfg = config_mod.load(family_config(tmp_path, normal.address, family.address))
    with RunningAgent(cfg) as running:
        household(running)
        assert ask(running.port, NAME, source=CHILD).header.rcode == RCODE.NXDOMAIN
        ada = store.list_children(running.engine)[0]
        store.add_rule(running.engine, ada.id, "allow", "domain", NAME)
        until(lambda: addresses(ask(running.port, NAME, source=CHILD)) == ["192.0.2.50"])
        # only the name the parent allowed: the filter still answers the rest
        assert ask(running.port, OTHER, source=CHILD).header.rcode == RCODE.NXDOMAIN
        assert addresses(ask(running.port, OTHER, source=ADULT)) == ["192.0.2.51"]


def test_null_block_mode_answers_the_childs_block_as_houserules_would(tmp_path, upstreams):
    normal, family = upstreams
    path = family_config(tmp_path, normal.address, family.address, mode="null")
    with RunningAgent(config_mod.load(path)) as running:
        household(running)
        reply = ask(running.port, NAME, source=CHILD)
        assert reply.header.rcode == RCODE.NOERROR and addresses(reply) == ["0.0.0.0"]
        assert reply.rr[0].ttl <= config_mod.Config().dns.block_ttl  # ours, not the filter's 60
        assert addresses(ask(running.port, NAME, source=ADULT)) == ["192.0.2.50"]


def test_a_dead_family_filter_sends_childrens_lookups_to_the_normal_upstream(
    tmp_path, upstreams, caplog
) -> None:
    normal, _ = upstreams
    dead = BlackHole()
    cfg = config_mod.load(family_config(tmp_path, normal.address, dead.address))
    try:
        with (
            caplog.at_level(logging.WARNING, logger="agent.dns.family"),
            RunningAgent(cfg) as running,
        ):
            household(running)
            for _ in range(3):  # online, with the house rules; then from the adults' cache
                assert addresses(ask(running.port, NAME, source=CHILD)) == ["192.0.2.50"]
            assert addresses(ask(running.port, NAME, source=ADULT)) == ["192.0.2.50"]
            assert normal.resolver.asked[(NAME + ".", "A")] == 1
            assert ask(running.port, "example.com", source=CHILD).header.rcode == 0
            blocked = ask(running.port, "www.tiktok.com", source=CHILD)  # 13+: still off
            assert blocked.header.rcode == RCODE.NXDOMAIN
            assert running.agent.resolver.family.falling_back
            assert running.agent.writer.flush(5)
    finally:
        dead.close()
    warnings = [r for r in caplog.records if "does not answer" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once a query
    rows = [r for r in recent(cfg.database_path, 200) if r.name == NAME and r.client == CHILD]
    assert len(rows) == 3 and all(r.action == "allow" for r in rows)
    assert rows[-1].upstream == normal.address  # the first: asked of the adults' resolver


class BlockingFamily(ScriptedUpstream):
    """A family filter that blocks every name (0.0.0.0); "silent" while it is down."""

    ADDRESS = "0.0.0.0"


def test_the_family_filter_is_used_again_once_it_is_back(tmp_path, upstreams) -> None:
    normal, _ = upstreams
    family = BlockingFamily("silent").start()
    fast = "outage_window = 0.5\nprobe_interval = 0.1\n"
    cfg = config_mod.load(family_config(tmp_path, normal.address, family.address, upstream=fast))
    try:
        with RunningAgent(cfg) as running:
            household(running)
            assert addresses(ask(running.port, NAME, source=CHILD)) == ["192.0.2.50"]
            family.mode = "answer"  # back, and it blocks everything
            until(lambda: ask(running.port, "example.com", source=CHILD).header.rcode == 3)
            assert ask(running.port, NAME, source=CHILD).header.rcode == RCODE.NXDOMAIN
            assert addresses(ask(running.port, NAME, source=ADULT)) == ["192.0.2.50"]
            assert not running.agent.resolver.family.falling_back
    finally:
        family.stop()


def test_a_servfail_from_the_family_filter_is_asked_of_the_adults_resolver(
    tmp_path, upstreams
) -> None:
    normal, family = upstreams
    family.resolver.servfail = True
    cfg = config_mod.load(family_config(tmp_path, normal.address, family.address))
    with RunningAgent(cfg) as running:
        household(running)
        assert addresses(ask(running.port, NAME, source=CHILD)) == ["192.0.2.50"]
        family.resolver.servfail = False  # a SERVFAIL is not kept: the next question is its
        assert ask(running.port, "example.com", source=CHILD).header.rcode == RCODE.NOERROR
        assert family.resolver.asked[("example.com.", "A")] == 1


def test_the_example_config_sends_children_to_cloudflare_for_families() -> None:
    cfg = config_mod.load(EXAMPLE)
    assert cfg.upstream.children == (HostPort("1.1.1.3", 53), HostPort("1.0.0.3", 53))
    family = FamilyFilter.from_config(cfg.upstream, 1.0, lambda: 0.0)
    assert family is not None and family.name == "Cloudflare for Families"
    assert family.reason == "Blocked by the family filter (Cloudflare for Families)"
    assert FamilyFilter.from_config(config_mod.Config().upstream, 1.0, lambda: 0.0) is None


@pytest.mark.parametrize(
    ("servers", "name"),
    [
        (["1.0.0.3"], "Cloudflare for Families"),
        (["[2606:4700:4700:0::1113]:53"], "Cloudflare for Families"),
        (["185.228.168.168"], "CleanBrowsing family filter"),
        (["94.140.15.16"], "AdGuard family DNS"),
        (["198.51.100.53", "94.140.14.15"], "AdGuard family DNS"),
        (["198.51.100.53"], None),
    ],
)
def test_known_family_filters_are_named(servers, name) -> None:
    cfg = config_mod.parse({"upstream": {"children": servers}}, "test", Path("."))
    provider = provider_for(cfg.upstream.children)
    assert (provider.name if provider else None) == name


def _reply(records: str, rcode: int = 0, auth: str = "") -> bytes:
    q = DNSRecord.question(NAME)
    reply = q.reply()
    reply.header.rcode = rcode
    for rr in RR.fromZone(records) if records else []:
        reply.add_answer(rr)
    for rr in RR.fromZone(auth) if auth else []:
        reply.add_auth(rr)
    return bytes(reply.pack())


CB_SOA = "example. 60 IN SOA a.cleanbrowsing.rpz.noc.org. admin.example. 1 3600 600 86400 60"
OTHER_SOA = "example. 60 IN SOA ns.example. admin.example. 1 3600 600 86400 60"


@pytest.mark.parametrize(
    ("servers", "reply", "blocked"),
    [
        (["1.1.1.3"], _reply(f"{NAME}. 60 IN A 0.0.0.0"), True),
        (["1.1.1.3"], _reply(f"{NAME}. 60 IN AAAA ::"), True),
        (["1.1.1.3"], _reply(f"w.{NAME}. 60 IN CNAME {NAME}.\n{NAME}. 60 IN A 0.0.0.0"), True),
        (["1.1.1.3"], _reply(f"{NAME}. 60 IN A 192.0.2.50"), False),
        (["1.1.1.3"], _reply("", 3, OTHER_SOA), False),  # a real NXDOMAIN
        (["1.1.1.3"], _reply("", 3, CB_SOA), False),  # only CleanBrowsing's mark counts
        (["185.228.168.168"], _reply("", 3, CB_SOA), True),
        (["185.228.168.168"], _reply("", 3, OTHER_SOA), False),
        (["185.228.168.168"], _reply(f"{NAME}. 60 IN A 203.0.113.7"), False),
        (["185.228.168.168", "EXTRA"], _reply(f"{NAME}. 60 IN A 203.0.113.7"), True),
        (["1.1.1.3"], b"\x00\x01\x81\x80\x00\x01\x00\x05garbage", False),
    ],
)
def test_what_counts_as_a_family_filter_block(servers, reply, blocked) -> None:
    extra = ["203.0.113.7"] if "EXTRA" in servers else []
    up = {"children": [s for s in servers if s != "EXTRA"], "children_block_addresses": extra}
    cfg = config_mod.parse({"upstream": up}, "test", Path("."))
    family = FamilyFilter.from_config(cfg.upstream, 1.0, lambda: 0.0)
    assert family is not None and family.blocks(reply) is blocked


def test_a_compression_loop_in_an_soa_is_not_a_block_and_raises_nothing() -> None:
    cfg = config_mod.parse({"upstream": {"children": ["185.228.168.168"]}}, "test", Path("."))
    family = FamilyFilter.from_config(cfg.upstream, 1.0, lambda: 0.0)
    question = DNSRecord.question(NAME).pack()
    head = struct.pack(">HHHHHH", 1, 0x8183, 1, 0, 1, 0)
    soa = b"\xc0\x0c" + struct.pack(">HHIH", 6, 1, 60, 24)
    start = len(head) + len(question) - 12 + len(soa)
    loop = struct.pack(">H", 0xC000 | start) + bytes(22)  # a pointer to itself
    assert family is not None and not family.blocks(head + question[12:] + soa + loop)
