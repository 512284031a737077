"""Names the proxy connects to are looked up through HouseRules' own DNS, not the system's.

So whatever the DNS filter does to a name (lists, CNAME checks, rebinding protection, safe
search, a pause) it does to the proxy's own connections too. A name HouseRules answers with a
block (NXDOMAIN, 0.0.0.0 or ::, REFUSED) or does not answer is not connected to: the proxy
fails closed, like the DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets

from dnslib import QTYPE, RCODE, DNSRecord

from agent.config import Config

TIMEOUT = 3.0
_BLOCK_ADDRESSES = {"0.0.0.0", "::"}


class NotResolved(Exception):
    """HouseRules gave no address to connect to; the message says why in plain words."""


def server_for(cfg: Config) -> tuple[str, int]:
    """Where HouseRules answers on this box: its first listen address, a wildcard taken as
    loopback."""
    listen = cfg.dns.listen[0]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(listen.host, listen.host)
    return host, listen.port


class _Exchange(asyncio.DatagramProtocol):
    def __init__(self, query: DNSRecord) -> None:
        self.query = query
        self.reply: asyncio.Future[DNSRecord] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        try:
            reply = DNSRecord.parse(data)
        except Exception:
            return
        if reply.header.id == self.query.header.id and not self.reply.done():
            self.reply.set_result(reply)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)


async def _ask(server: tuple[str, int], name: str, qtype: str, timeout: float) -> DNSRecord:
    query = DNSRecord.question(name, qtype)
    query.header.id = secrets.randbelow(65536)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Exchange(query), remote_addr=server
    )
    try:
        transport.sendto(query.pack())
        return await asyncio.wait_for(protocol.reply, timeout)
    finally:
        transport.close()


async def resolve(server: tuple[str, int], name: str, timeout: float = TIMEOUT) -> str:
    """One address for `name` from HouseRules (IPv4 first); raises `NotResolved`."""
    if literal(name):
        return name
    for qtype in ("A", "AAAA"):
        try:
            reply = await _ask(server, name, qtype, timeout)
        except (TimeoutError, OSError) as exc:
            raise NotResolved(f"HouseRules' DNS did not answer for {name}") from exc
        rcode = reply.header.rcode
        if rcode != RCODE.NOERROR:
            raise NotResolved(f"HouseRules' DNS answered {RCODE[rcode]} for {name}")
        found = [str(rr.rdata) for rr in reply.rr if rr.rtype == getattr(QTYPE, qtype)]
        if any(a in _BLOCK_ADDRESSES for a in found):
            raise NotResolved(f"HouseRules' DNS blocks {name}")
        if found:
            return found[0]
    raise NotResolved(f"HouseRules' DNS has no address for {name}")


def literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True
