"""The second layer for children: a family-filtering upstream, and what its blocks look like.

Children's queries (a child's device, or a device given children's rules) may go to their own
resolvers, `[upstream] children`, such as Cloudflare for Families; adults' go to
`[upstream] servers`. The answer cache is shared, so a child's entries carry a key suffix
(`FamilyFilter.suffix`): an adult never gets a filtered answer, a child never an unfiltered one.

A family filter says "blocked" with an answer, not an error: an address of nowhere (0.0.0.0,
::) or of its own block page, or (CleanBrowsing) NXDOMAIN with its own SOA. `FamilyFilter.
blocks(reply)` reads that; the server then answers HouseRules' own block, and the query log
says which filter blocked it, in words a parent reads.

If none of the children's resolvers answers, their queries go to the adults' resolvers: the
house rules and the lists still apply, and the home stays online (failing closed would take
every child offline whenever the family service has an outage). While the children's pool is
in its outage window, children's questions use the adults' cache entries and the fast path;
its health probe brings the family filter back. A warning is logged once per outage, and
`houserules doctor` checks these resolvers. A SERVFAIL from the filter (it failed on that name,
which is not how any of them blocks) is asked of the adults' resolvers too.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from agent.config import HostPort, UpstreamConfig
from agent.dns import wire
from agent.dns.upstream import UpstreamPool
from agent.rules import reasons as say
from agent.rules.decision import Action, Decision, RuleKind, RuleRef
from agent.rules.household import Household
from agent.rules.policy import Policy

log = logging.getLogger(__name__)

NOWHERE = ("0.0.0.0", "::")  # what Cloudflare for Families (and AdGuard) answer when blocking
FAMILY_RULE = RuleRef(RuleKind.FAMILY_FILTER)
# A parent's own yes for this child (an allow, or a timed unblock): they vouched for the name,
# so the family filter's opinion does not overrule them; their way to undo its mistakes.
PARENT_SAID_YES = frozenset(
    {
        RuleKind.ALLOW_DOMAIN,
        RuleKind.ALLOW_APP,
        RuleKind.ALLOW_CATEGORY,
        RuleKind.UNBLOCK_APP,
        RuleKind.UNBLOCK_DOMAIN,
    }
)
_ADDRESS_TYPES = (wire.TYPE_A, wire.TYPE_AAAA)
NOBODY = Household()  # before the household is read: every device is unassigned


@dataclass(frozen=True)
class Provider:
    """A family-filtering DNS service HouseRules knows: its resolvers and how it blocks."""

    name: str
    servers: tuple[str, ...]
    block_addresses: tuple[str, ...] = NOWHERE
    soa_marks: tuple[str, ...] = ()  # NXDOMAIN with an SOA under one of these: a block


# Sources. Cloudflare: developers.cloudflare.com/1.1.1.1/ip-addresses ("1.1.1.1 for Families",
# the "malware and adult content" resolvers) and its set-up page, which says a blocked name is
# answered 0.0.0.0 (::  for AAAA). CleanBrowsing: its support pages say a blocked name gets
# "NXDOMAIN or a block page IP"; the NXDOMAIN carries an SOA under cleanbrowsing.rpz.noc.org
# (its RPZ zone, as dig shows). AdGuard: adguard-dns.io's list of public servers ("Family
# protection"); its blocks are answered 0.0.0.0 / :: in its default blocking mode. The block-page
# addresses of these services are not listed here (they are not documented as fixed): a home
# that sees one puts it in `[upstream] children_block_addresses`.
PROVIDERS: tuple[Provider, ...] = (
    Provider(
        "Cloudflare for Families",
        ("1.1.1.3", "1.0.0.3", "2606:4700:4700::1113", "2606:4700:4700::1003"),
    ),
    Provider(
        "CleanBrowsing family filter",
        ("185.228.168.168", "185.228.169.168", "2a0d:2a00:1::", "2a0d:2a00:2::"),
        soa_marks=("cleanbrowsing.rpz.noc.org",),
    ),
    Provider(
        "AdGuard family DNS",
        ("94.140.14.15", "94.140.15.16", "2a10:50c0::bad1:ff", "2a10:50c0::bad2:ff"),
    ),
)


def provider_for(servers: tuple[HostPort, ...]) -> Provider | None:
    """The known service the first of `servers` belongs to, if any."""
    for hp in servers:
        host = _canonical(hp.host)
        for provider in PROVIDERS:
            if host in (_canonical(s) for s in provider.servers):
                return provider
    return None


def _canonical(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


class FamilyFilter:
    """The children's resolvers, one per DNS server; None when `[upstream] children` is empty."""

    suffix = b"\x00family"  # appended to a child's cache keys

    def __init__(self, pool: UpstreamPool, name: str, addresses: frozenset[bytes], marks: tuple):
        self.pool = pool
        self.name = name  # the service, as a parent reads it ("" when not a known one)
        self.addresses = addresses  # packed block addresses (4 or 16 bytes)
        self.marks = marks  # SOA names that make an NXDOMAIN a block
        self.reason = say.family_filter(name)
        self.falling_back = False  # the children's resolvers are down: adults' ones serve
        self.fallbacks = 0  # children's queries answered by the adults' resolvers
        self.blocked = 0  # answers the family filter blocked

    @classmethod
    def from_config(cls, up: UpstreamConfig, timeout: float, monotonic) -> FamilyFilter | None:
        if not up.children:
            return None
        provider = provider_for(up.children)
        known = provider.block_addresses if provider else NOWHERE
        marks = provider.soa_marks if provider else ()
        packed = frozenset(
            ipaddress.ip_address(a).packed for a in (*NOWHERE, *known, *up.children_block_addresses)
        )
        pool = UpstreamPool(
            up.children,
            timeout,
            up.dead_for,
            outage_window=up.outage_window,
            probe_interval=up.probe_interval,
            monotonic=monotonic,
        )
        return cls(pool, provider.name if provider else "", packed, marks)

    # -- whose query ---------------------------------------------------------------------------

    @staticmethod
    def for_children(policy: Policy, client: str, decision: Decision, unassigned: str) -> bool:
        """Whether a query goes to the family filter: a child's (a child's device, or one given
        children's rules: an unassigned device under rules.unassigned = "youngest") that no
        parent explicitly allowed. Asked once per question and device while the server's memo
        keeps them, not per packet."""
        if decision.rule.kind in PARENT_SAID_YES:
            return False
        if decision.child is not None:
            return True
        household = policy.household or NOBODY
        device = household.device_for(client, policy.neighbours.get(client))
        return not household.whose_rules(device, unassigned)[1]

    # -- what its answers mean -----------------------------------------------------------------

    def blocks(self, reply: bytes) -> bool:
        """Whether the filter answered "blocked": an address of nowhere or of its block page in
        the answer section, or NXDOMAIN with its own SOA. A reply that cannot be read is not
        a family block (the cache and the client see it as it is)."""
        try:
            return self._blocks(reply)
        except (wire.WireError, IndexError, ValueError):
            return False

    def _blocks(self, data: bytes) -> bool:
        _, flags, qd, an, ns, _ = wire.HEADER.unpack_from(data)
        pos = 12
        for _ in range(qd):
            pos = wire._skip_name(data, pos) + 4
        addresses = self.addresses
        for _ in range(an):
            pos = wire._skip_name(data, pos)
            rtype, _, _, rdlen = wire.RR_FIXED.unpack_from(data, pos)
            pos += 10
            if rtype in _ADDRESS_TYPES and data[pos : pos + rdlen] in addresses:
                return True
            pos += rdlen
        if not self.marks or flags & 0xF != wire.NXDOMAIN:
            return False
        for _ in range(ns):
            pos = wire._skip_name(data, pos)
            rtype, _, _, rdlen = wire.RR_FIXED.unpack_from(data, pos)
            if rtype == wire.TYPE_SOA:
                mname = _read_name(data, pos + 10)
                if any(mname == m or mname.endswith("." + m) for m in self.marks):
                    return True
            pos += 10 + rdlen
        return False

    def decision(self, asked: Decision) -> Decision:
        """The block the query log records: the child's, with the filter's words."""
        return Decision(
            Action.BLOCK, self.reason, FAMILY_RULE, asked.child, asked.app, asked.category
        )

    # -- when it is down -----------------------------------------------------------------------

    def fell_back(self, name: str, why: Exception) -> None:
        self.fallbacks += 1
        if not self.falling_back:
            self.falling_back = True
            log.warning(
                "the children's family filter (%s) does not answer (%s); children's lookups go "
                "to the adults' resolvers until it is back (the house rules still apply); "
                "first name: %r",
                self.name or "[upstream] children",
                why,
                name,
            )

    def answered(self) -> None:
        if self.falling_back:
            self.falling_back = False
            log.warning("the children's family filter (%s) answers again", self.name or "")


def _read_name(data: bytes, pos: int) -> str:
    """A name, lower-case without the trailing dot, following compression pointers."""
    labels: list[str] = []
    for _ in range(128):  # no real name has this many labels and pointers: a loop
        length = data[pos]
        if length == 0:
            return ".".join(labels)
        if length & 0xC0 == 0xC0:
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        labels.append(data[pos + 1 : pos + 1 + length].decode("latin-1").lower())
        pos += 1 + length
    raise wire.WireError("compression loop")
