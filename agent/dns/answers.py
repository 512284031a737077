"""What an upstream answer leads to, read once, and what that means for the asking device.

A misbehaving (or simply obliging) upstream can answer `innocent.example` with a CNAME to
`tiktok.com` and TikTok's address, or a public name with 192.168.1.1 (DNS rebinding). So
every answer is read once, when it arrives or is first served from the cache, into `Facts`:
the names it leads to (CNAME and DNAME targets, HTTPS/SVCB targets, other owners) and
whether it carries an address from inside a home network. The facts are kept with the cache
entry; the cache is shared by every device, so `AnswerCheck.hold` asks the one decision
point (`decide`) about each name for the device that is asking, each time the server loads
the entry for that device and question (once a second at most, like the question itself).

Most answers lead nowhere (`PLAIN`): the check then costs one identity comparison.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from agent.dns import wire
from agent.rules import reasons as say
from agent.rules.decision import Action, Decision, RuleKind, RuleRef
from agent.rules.policy import Policy

TYPE_DNAME, TYPE_SVCB, TYPE_HTTPS = 39, 64, 65
SVC_IPV4HINT, SVC_IPV6HINT = 4, 6
MAX_NAMES = 32  # more distinct names than any real chain: refused, never half-checked
HOME_DOMAINS = ("home.arpa", "lan", "local")
UPSTREAM_BLOCK_RULE = RuleRef(RuleKind.UPSTREAM_BLOCK)
REBINDING_RULE = RuleRef(RuleKind.REBINDING)
UNREADABLE_RULE = RuleRef(RuleKind.UNREADABLE_ANSWER)
# a parent allowed this very name (or its app or category): they vouched for where it leads
PARENT_ALLOWS = frozenset({RuleKind.ALLOW_DOMAIN, RuleKind.ALLOW_APP, RuleKind.ALLOW_CATEGORY})

Decide = Callable[[Policy, str, str, int, datetime], Decision]


@dataclass(frozen=True, slots=True)
class Facts:
    """One answer as read: what it leads to and what it must not carry."""

    names: tuple[str, ...] = ()  # names it leads to beyond the question, in answer order
    rebind: str | None = None  # the first home-network address in it, for a public name
    sinkhole: bool = False  # it answered 0.0.0.0 or ::, an upstream's way to say "blocked"
    unreadable: str | None = None  # why the answer could not be read (it is then refused)


PLAIN = Facts()


def is_home_name(name: str, extra: tuple[str, ...] = ()) -> bool:
    """Whether `name` is, or is below, one of the home's own domains; a name of one label
    ("printer") is the home's own too: only the local network answers those."""
    domains = (*HOME_DOMAINS, *extra)
    return "." not in name or any(name == d or name.endswith("." + d) for d in domains)


def read_facts(reply: bytes, qname: str, home: bool) -> Facts:
    """Read an upstream reply's answer section. `home`: the question is one of the home's
    own names, where home-network addresses are expected."""
    try:
        names, addresses = _walk(reply, qname)
    except (wire.WireError, struct.error, IndexError, UnicodeDecodeError) as exc:
        return Facts(unreadable=str(exc) or "malformed answer")
    sinkhole = any(not any(a) for a in addresses)
    rebind = None
    if not home and not sinkhole:
        rebind = next((_show(a) for a in addresses if _is_home_address(a)), None)
    if len(names) > MAX_NAMES:
        return Facts(unreadable=f"{len(names)} names in one answer")
    if not names and rebind is None and not sinkhole:
        return PLAIN
    return Facts(tuple(names), rebind, sinkhole)


def _walk(data: bytes, qname: str) -> tuple[list[str], list[bytes]]:
    _, _, qd, an, _, _ = wire.HEADER.unpack_from(data)
    pos = 12
    for _ in range(qd):
        pos = read_name(data, pos)[1] + 4
    names: list[str] = []
    seen = {qname}
    addresses: list[bytes] = []

    def note(name: str) -> None:
        if name and name not in seen:
            seen.add(name)
            names.append(name)

    for _ in range(an):
        owner, pos = read_name(data, pos)
        rtype, _, _, rdlen = wire.RR_FIXED.unpack_from(data, pos)
        start, end = pos + 10, pos + 10 + rdlen
        if end > len(data):
            raise wire.WireError("record data runs past the end")
        note(owner)
        if rtype == wire.TYPE_A and rdlen == 4 or rtype == wire.TYPE_AAAA and rdlen == 16:
            addresses.append(data[start:end])
        elif rtype in (wire.TYPE_CNAME, TYPE_DNAME):
            note(read_name(data, start)[0])
        elif rtype in (TYPE_SVCB, TYPE_HTTPS):
            target, after = read_name(data, start + 2)  # after SvcPriority; never compressed
            note(target)
            addresses.extend(_hints(data, after, end))
        pos = end
    return names, addresses


def read_name(data: bytes, pos: int) -> tuple[str, int]:
    """A name (lower-case, no trailing dot) and the position after it, following pointers."""
    labels: list[str] = []
    end = -1
    jumps = 0
    while True:
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if end < 0:
                end = pos + 2
            jumps += 1
            if jumps > 64:
                raise wire.WireError("compression loop")
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        if length & 0xC0:
            raise wire.WireError("unknown label type")
        label = data[pos + 1 : pos + 1 + length]
        if len(label) < length:
            raise wire.WireError("label runs past the end")
        labels.append(label.decode("latin-1").lower())
        pos += 1 + length
    return ".".join(labels), (end if end >= 0 else pos)


def _hints(data: bytes, pos: int, end: int) -> list[bytes]:
    """The addresses in an SVCB/HTTPS record's ipv4hint and ipv6hint parameters."""
    out: list[bytes] = []
    while pos + 4 <= end:
        key, size = struct.unpack_from(">HH", data, pos)
        pos += 4
        step = 4 if key == SVC_IPV4HINT else 16 if key == SVC_IPV6HINT else 0
        if step:
            out.extend(data[i : i + step] for i in range(pos, pos + size - step + 1, step))
        pos += size
    return out


def _is_home_address(a: bytes) -> bool:
    """Private, loopback, link-local, CGNAT or "this network" addresses (IPv4 and IPv6)."""
    if len(a) == 16:
        if a[:12] == b"\x00" * 10 + b"\xff\xff":  # IPv4-mapped
            return _is_home_address(a[12:])
        if a[:15] == bytes(15):  # :: and ::1
            return True
        return a[0] & 0xFE == 0xFC or (a[0] == 0xFE and a[1] & 0x80 == 0x80)  # ULA, fe80/fec0
    first, second = a[0], a[1]
    return (
        first in (0, 10, 127)
        or (first == 172 and 16 <= second <= 31)
        or (first == 192 and second == 168)
        or (first == 169 and second == 254)
        or (first == 100 and 64 <= second <= 127)
    )


def _show(a: bytes) -> str:
    return str(ipaddress.ip_address(a))


class AnswerCheck:
    """Whether an answer may reach the asking device: one per DNS server."""

    def __init__(self, decide: Decide, block_mode: str, block_ttl: int, home: tuple[str, ...]):
        self.decide = decide
        self.block_mode, self.block_ttl = block_mode, block_ttl
        self.home = home

    def facts(self, reply: bytes, qname: str) -> Facts:
        return read_facts(reply, qname, is_home_name(qname, self.home))

    def hold(
        self,
        q: wire.Query,
        asked: Decision,
        head: tuple,
        facts: Facts,
        client: str,
        policy: Policy,
        now: datetime,
    ) -> tuple[bytes, tuple] | None:
        """None to let the answer through; else the reply after its ID and the query-log
        columns (`head` with the columns of the decision that holds it back)."""
        base = head[:5]
        if facts.sinkhole:
            held = _like(asked, say.UPSTREAM_BLOCK, UPSTREAM_BLOCK_RULE)
            return self._block(q, False), base + held.columns
        if facts.unreadable is not None or facts.rebind is not None:
            reason = say.rebinding(facts.rebind) if facts.rebind else say.UNREADABLE_ANSWER
            held = _like(asked, reason, REBINDING_RULE if facts.rebind else UNREADABLE_RULE)
            return refused_tail(q), base + held.columns
        if asked.rule.kind in PARENT_ALLOWS:
            return None
        for name in facts.names:
            d = self.decide(policy, client, name, q.qtype, now)
            if d.action is Action.ALLOW:
                continue
            # A rewrite means the chain reached a search engine's unfiltered host: going on
            # would step round safe search, so it is held back too.
            why = d.reason if d.action is Action.BLOCK else say.AROUND_SAFE_SEARCH
            held = Decision(
                Action.BLOCK,
                say.led_to(q.name, _title(policy, d, name), why),
                d.rule,
                d.child,
                d.app,
                d.category,
                None,
                d.nxdomain,
            )
            return self._block(q, d.nxdomain), base + held.columns
        return None

    def _block(self, q: wire.Query, nxdomain: bool) -> bytes:
        return wire.block_tail(q, self.block_mode, self.block_ttl, nxdomain)


def _like(asked: Decision, reason: str, rule: RuleRef) -> Decision:
    return Decision(Action.BLOCK, reason, rule, asked.child, asked.app, asked.category)


def _title(policy: Policy, d: Decision, name: str) -> str:
    if d.app is not None and policy.catalog is not None:
        app = policy.catalog.get(d.app)
        if app is not None:
            return app.name
    return name


def refused_tail(q: wire.Query) -> bytes:
    """A REFUSED reply after its ID, echoing the question."""
    opt = wire.opt_record(q.do) if q.edns else b""
    flags = 0x8000 | (q.flags & 0x0100) | 0x0080 | wire.REFUSED
    return wire.HEADER.pack(0, flags, 1, 0, 0, 1 if opt else 0)[2:] + q.question + opt


def nodata_tail(q: wire.Query, ttl: int) -> bytes:
    """NOERROR with no records and an SOA (NODATA, RFC 2308), whatever the type asked."""
    opt = wire.opt_record(q.do) if q.edns else b""
    flags = 0x8000 | (q.flags & 0x0100) | 0x0080 | wire.NOERROR
    head = wire.HEADER.pack(0, flags, 1, 0, 1, 1 if opt else 0)[2:]
    return head + q.question + wire.synth_soa(ttl) + opt
