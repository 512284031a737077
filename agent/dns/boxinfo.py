"""One name the box answers itself: which household version its DNS process enforces.

    dig @192.168.1.2 TXT version.houserules.home.arpa   ->   "household=42;database=3f9a0c1b7e22"

With two boxes sharing one database, `houserules doctor` on one box asks the other this name,
to see that both read one database (`database`: PostgreSQL's own identifier for it, left out
on SQLite and before the box first reached the database) and follow the same house rules
(agent/ops/peers.py). The answer says nothing
about the family, yet it is given only to the home's own networks (loopback, the private
ranges, link-local, and the box's own IPv6 prefixes); anyone else is refused. The name sits
under home.arpa (RFC 8375), which is never sent to the internet's DNS.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable

from agent.config import DnsConfig, IPNetwork
from agent.dns import wire
from agent.rules.policy import Policy

NAME = "version.houserules.home.arpa"
TYPE_TXT = 16
CLASS_IN = 1
HOME_NETWORKS: tuple[IPNetwork, ...] = DnsConfig().allow_networks  # loopback, private, link-local


def is_home(client: str, own: Iterable[IPNetwork] = ()) -> bool:
    try:
        address = ipaddress.ip_address(client.partition("%")[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in (*HOME_NETWORKS, *own))


def version_text(policy: Policy, database: str | None = None) -> str:
    household = policy.household
    text = f"household={household.version}" if household is not None else "household=none"
    return text if database is None else f"{text};database={database}"


def reply(
    data: bytes,
    q: wire.Query,
    client: str,
    policy: Policy,
    own: Iterable[IPNetwork],
    database: str | None = None,
) -> bytes | None:
    """The answer to a question for `NAME`: the TXT record for a home client asking TXT, no
    records for other types, REFUSED for anyone outside the home."""
    if not is_home(client, own):
        return wire.error_reply(data, wire.REFUSED)
    answers = b""
    if q.qtype == TYPE_TXT and q.qclass == CLASS_IN:
        text = version_text(policy, database).encode()
        rdata = bytes([len(text)]) + text
        answers = b"\xc0\x0c" + struct.pack(">HHIH", TYPE_TXT, CLASS_IN, 0, len(rdata)) + rdata
    flags = 0x8400 | (q.flags & 0x0100) | 0x0080  # QR, AA, RD echoed, RA
    header = wire.HEADER.pack(q.id, flags, 1, 1 if answers else 0, 0, 0)
    return header + q.question + answers
