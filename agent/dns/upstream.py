"""Forwarding to upstream resolvers: ordered failover, health tracking, TCP when truncated.

Queries go out on a few shared UDP sockets (random source ports, random IDs) and replies are
matched by (ID, server, question). A server that times out is skipped for `dead_for` seconds;
SERVFAIL or REFUSED moves on to the next server without marking it dead (the name may simply
be broken). A truncated UDP reply is fetched again over TCP.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.config import HostPort
from agent.dns import wire

log = logging.getLogger(__name__)
SOCKETS_PER_FAMILY = 4


class UpstreamFailed(Exception):
    """Every upstream failed for this query; the message says how."""


@dataclass
class Server:
    addr: HostPort
    dead_until: float = 0.0
    answered: int = 0
    timeouts: int = 0
    errors: int = 0

    @property
    def label(self) -> str:
        return str(self.addr)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.pool._on_reply(data, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable and the like
        log.debug("upstream socket error: %s", exc)


class UpstreamPool:
    def __init__(
        self,
        servers: tuple[HostPort, ...],
        timeout: float,
        dead_for: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (monotonic seconds) decides when a server marked dead is tried again."""
        self.servers = [Server(s) for s in servers]
        self.clock = clock
        self.timeout = timeout
        self.dead_for = dead_for
        self._transports: dict[int, list[asyncio.DatagramTransport]] = {}
        self._pending: dict[tuple[int, str, int], tuple[asyncio.Future[bytes], bytes]] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        families = {socket.AF_INET6 if ":" in s.addr.host else socket.AF_INET for s in self.servers}
        for family in families:
            local = "::" if family == socket.AF_INET6 else "0.0.0.0"
            socks = []
            for _ in range(SOCKETS_PER_FAMILY):
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Receiver(self), local_addr=(local, 0), family=family
                )
                socks.append(transport)
            self._transports[family] = socks

    def close(self) -> None:
        for socks in self._transports.values():
            for t in socks:
                t.close()
        self._transports.clear()
        for fut, _ in self._pending.values():
            if not fut.done():
                fut.cancel()

    def order(self, now: float) -> list[Server]:
        """Healthy servers in config order, then the ones marked dead (they may be back)."""
        alive = [s for s in self.servers if s.dead_until <= now]
        return alive + [s for s in self.servers if s.dead_until > now]

    async def query(self, packet: bytes, question_key: bytes) -> tuple[bytes, str]:
        """Send `packet` (a query, any ID) and return (reply, server label)."""
        problems: list[str] = []
        last_reply: bytes | None = None
        for server in self.order(self.clock()):
            try:
                reply = await self._ask(server, packet, question_key)
            except TimeoutError:
                server.timeouts += 1
                server.dead_until = self.clock() + self.dead_for
                problems.append(f"{server.label} did not answer in {self.timeout:g}s")
                continue
            except (OSError, wire.WireError) as exc:
                server.errors += 1
                server.dead_until = self.clock() + self.dead_for
                problems.append(f"{server.label}: {exc}")
                continue
            rcode = reply[3] & 0xF if len(reply) >= 4 else wire.SERVFAIL
            if rcode in (wire.SERVFAIL, wire.REFUSED):
                server.errors += 1
                problems.append(
                    f"{server.label} answered {'SERVFAIL' if rcode == 2 else 'REFUSED'}"
                )
                last_reply = reply
                continue
            server.answered += 1
            server.dead_until = 0.0
            return reply, server.label
        if last_reply is not None:
            return last_reply, "all upstreams failed"
        raise UpstreamFailed("; ".join(problems) or "no upstream servers configured")

    async def _ask(self, server: Server, packet: bytes, question_key: bytes) -> bytes:
        reply = await self._ask_udp(server, packet, question_key)
        if len(reply) >= 4 and reply[2] & 0x02:  # TC: the full answer needs TCP
            reply = await self._ask_tcp(server, packet)
        return reply

    async def _ask_udp(self, server: Server, packet: bytes, question_key: bytes) -> bytes:
        family = socket.AF_INET6 if ":" in server.addr.host else socket.AF_INET
        socks = self._transports.get(family)
        if not socks:
            raise OSError("upstream sockets are not open")
        qid = self._free_id(server.addr.host, server.addr.port)
        key = (qid, server.addr.host, server.addr.port)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[key] = (fut, question_key)
        try:
            random.choice(socks).sendto(
                struct.pack(">H", qid) + packet[2:], (server.addr.host, server.addr.port)
            )
            async with asyncio.timeout(self.timeout):
                reply = await fut
        finally:
            self._pending.pop(key, None)
        return reply

    def _free_id(self, host: str, port: int) -> int:
        while True:
            qid = random.getrandbits(16)
            if (qid, host, port) not in self._pending:
                return qid

    def _on_reply(self, data: bytes, addr: tuple) -> None:
        if len(data) < 12:
            return
        qid = struct.unpack_from(">H", data)[0]
        host = addr[0].split("%")[0]
        pending = self._pending.get((qid, host, addr[1]))
        if pending is None:
            return  # late, duplicate or spoofed
        fut, question_key = pending
        if not _question_matches(data, question_key):
            return  # right ID, wrong question: not our answer
        if not fut.done():
            fut.set_result(data)

    async def _ask_tcp(self, server: Server, packet: bytes) -> bytes:
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(server.addr.host, server.addr.port)
            try:
                writer.write(struct.pack(">H", len(packet)) + packet)
                await writer.drain()
                size = struct.unpack(">H", await reader.readexactly(2))[0]
                reply = await reader.readexactly(size)
            finally:
                writer.close()
        if reply[:2] != packet[:2]:
            raise wire.WireError("TCP reply ID does not match the query")
        return reply


def _question_matches(reply: bytes, question_key: bytes) -> bool:
    """Compare the reply's question to ours (name case-insensitively)."""
    qlen = len(question_key)
    got = reply[12 : 12 + qlen]
    if len(got) != qlen:
        return False
    return got[: qlen - 4].lower() == question_key[: qlen - 4] and got[-4:] == question_key[-4:]
