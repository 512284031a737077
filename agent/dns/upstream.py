"""Forwarding to upstream resolvers: ordered failover, health tracking, TCP when truncated.

Forged replies: every UDP query leaves from its own socket, bound to a port drawn with
`secrets` from the whole ephemeral range and connected to the server, so the kernel drops
datagrams from any other address or port; it carries a random ID and its name in random
letter case (0x20). A reply counts only with the same ID and exactly the question sent:
about 15 bits of port, 16 of ID and one per letter of the name for a forger to guess. The
socket is closed after its one reply.

Outages: a server that times out or errors is marked down and skipped; when every server has
failed, the pool answers "down" at once for `outage_window` seconds (the caller serves stale
answers or SERVFAIL without waiting), while a health probe asks each down server every
`probe_interval` seconds and brings it back on its first answer.
SERVFAIL or REFUSED moves on to the next server without marking it down (the name may simply
be broken). A truncated UDP reply is fetched again over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.config import HostPort
from agent.dns import wire

log = logging.getLogger(__name__)
CASE_LOSSES_TO_GIVE_UP = 3
PORT_TRIES = 8  # random ports tried before letting the kernel choose
PROBE_QUESTION = b"\x00\x00\x02\x00\x01"  # ". NS": every resolver can answer it


class UpstreamFailed(Exception):
    """Every upstream failed for this query; the message says how."""


class _CaseLost(wire.WireError):
    """The reply had our ID and question, but not the letter case we sent."""


@dataclass
class Server:
    addr: HostPort
    family: int = socket.AF_INET
    dead_until: float = 0.0
    down: bool = False  # failed last time; only an answer (to a query or probe) clears it
    keeps_case: bool = True  # echoes the question's letter case, so 0x20 can be used
    case_losses: int = 0  # replies in a row that had our ID but lost the case we sent
    answered: int = 0
    seconds: float = 0.0  # time spent on the answers counted in `answered`
    timeouts: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        self.family = socket.AF_INET6 if ":" in self.addr.host else socket.AF_INET

    @property
    def label(self) -> str:
        return str(self.addr)


def _port_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = (int(x) for x in f.read().split())
        if 1024 <= low <= high <= 65535:
            return low, high
    except (OSError, ValueError):
        pass
    return 32768, 60999  # Linux's default


# bit 5 of every ASCII letter, nothing else: XOR with (mask & random bits) flips letter case
_LETTER_BITS = bytes(0x20 if 97 <= c <= 122 else 0 for c in range(256))


def scramble_case(name: bytes) -> bytes:
    """A lower-case wire name with each letter's case drawn at random (0x20 encoding)."""
    n = len(name)
    mask = int.from_bytes(name.translate(_LETTER_BITS), "big") & secrets.randbits(8 * n)
    return (int.from_bytes(name, "big") ^ mask).to_bytes(n, "big")


class UpstreamPool:
    def __init__(
        self,
        servers: tuple[HostPort, ...],
        timeout: float,
        dead_for: float,
        *,
        outage_window: float = 30.0,
        probe_interval: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = [Server(s) for s in servers]
        self.timeout = timeout
        self.dead_for = dead_for
        self.outage_window = outage_window
        self.probe_interval = probe_interval
        self.monotonic = monotonic
        self.ports = _port_range()
        self.down_until = 0.0  # while every server is down: answer "down" at once until then
        self.ignored = 0  # replies that reached a query's socket but were not its answer
        self.fast_failures = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._probe: asyncio.Task[None] | None = None
        self._open: dict[socket.socket, asyncio.Future[bytes]] = {}  # sockets awaiting a reply

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    def close(self) -> None:
        if self._probe is not None:
            self._probe.cancel()
        for sock, fut in list(self._open.items()):
            fut.cancel()
            self._forget(sock)

    async def aclose(self) -> None:
        """`close`, then wait for the health probe to end."""
        probe = self._probe
        self.close()
        if probe is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await probe

    def order(self, now: float) -> list[Server]:
        """Healthy servers in config order, then the ones marked dead (they may be back)."""
        alive = [s for s in self.servers if s.dead_until <= now]
        return alive + [s for s in self.servers if s.dead_until > now]

    def all_down(self) -> bool:
        return self.monotonic() < self.down_until and all(s.down for s in self.servers)

    async def query(self, packet: bytes, question_key: bytes) -> tuple[bytes, str]:
        """Send `packet` (a query, any ID) and return (reply, server label). `question_key` is
        its question with the name lower-cased."""
        if self.all_down():
            self.fast_failures += 1
            raise UpstreamFailed("every upstream is down (a health probe is watching for them)")
        problems: list[str] = []
        last_reply: bytes | None = None
        failed = 0
        for server in self.order(self.monotonic()):
            started = time.perf_counter()
            try:
                reply = await self._ask(server, packet, question_key)
            except TimeoutError:
                server.timeouts += 1
                self._mark_down(server)
                failed += 1
                problems.append(f"{server.label} did not answer in {self.timeout:g}s")
                continue
            except (OSError, wire.WireError) as exc:
                server.errors += 1
                self._mark_down(server)
                failed += 1
                problems.append(f"{server.label}: {getattr(exc, 'strerror', None) or exc}")
                continue
            self._mark_up(server)
            rcode = reply[3] & 0xF
            if rcode in (wire.SERVFAIL, wire.REFUSED):
                server.errors += 1
                problems.append(
                    f"{server.label} answered {'SERVFAIL' if rcode == 2 else 'REFUSED'}"
                )
                last_reply = reply
                continue
            server.answered += 1
            server.seconds += time.perf_counter() - started
            return reply, server.label
        if last_reply is not None:
            return last_reply, "all upstreams failed"
        if failed and failed == len(self.servers):
            self.down_until = self.monotonic() + self.outage_window
        raise UpstreamFailed("; ".join(problems) or "no upstream servers configured")

    def _mark_down(self, server: Server) -> None:
        server.down = True
        server.dead_until = self.monotonic() + self.dead_for
        if self._probe is None and self._loop is not None and self.probe_interval > 0:
            self._probe = self._loop.create_task(self._watch())

    def _mark_up(self, server: Server) -> None:
        if server.down:
            log.info("upstream %s answers again", server.label)
        server.down = False
        server.dead_until = 0.0
        self.down_until = 0.0

    async def _watch(self) -> None:
        """The health probe: while any server is down, ask each down one a small question."""
        try:
            while any(s.down for s in self.servers):
                await asyncio.sleep(self.probe_interval)
                for server in [s for s in self.servers if s.down]:
                    probe = wire.HEADER.pack(0, 0x0100, 1, 0, 0, 0) + PROBE_QUESTION
                    with contextlib.suppress(TimeoutError, OSError, wire.WireError):
                        await self._ask_udp(server, probe, PROBE_QUESTION, scramble=False)
                        self._mark_up(server)
        finally:
            self._probe = None

    async def _ask(self, server: Server, packet: bytes, question_key: bytes) -> bytes:
        try:
            reply = await self._ask_udp(server, packet, question_key, server.keeps_case)
            server.case_losses = 0
        except _CaseLost:
            # Our port and ID but not our letter case: a server that does not keep case, or a
            # forger who guessed 31 bits. Ask again without 0x20 (fresh port and ID); give up
            # 0x20 with this server only when it happens several times running.
            server.case_losses += 1
            if server.case_losses >= CASE_LOSSES_TO_GIVE_UP:
                log.warning("upstream %s does not keep the letter case of names", server.label)
                server.keeps_case = False
            reply = await self._ask_udp(server, packet, question_key, False)
        if reply[2] & 0x02:  # TC: the full answer needs TCP
            reply = await self._ask_tcp(server, packet, question_key)
        return reply

    async def _ask_udp(
        self, server: Server, packet: bytes, question_key: bytes, scramble: bool
    ) -> bytes:
        """One query on its own fresh socket; the first reply that is really its answer."""
        loop = self._loop
        if loop is None:
            raise OSError(errno.ENOTCONN, "the upstream pool is not started")
        name_end = 12 + len(question_key) - 4
        lower = question_key[:-4]
        sent_name = scramble_case(lower) if scramble else lower
        query = secrets.token_bytes(2) + packet[2:12] + sent_name + packet[name_end:]
        expect = query[:2], query[12 : name_end + 4], scramble
        fut: asyncio.Future[bytes] = loop.create_future()
        sock = self._socket(server, fut)
        timer = loop.call_later(self.timeout, _expire, fut)
        try:
            loop.add_reader(sock.fileno(), self._readable, sock, fut, expect)
            sock.send(query)
            reply = await fut
        finally:
            timer.cancel()
            self._forget(sock)
        if sent_name != lower:  # give the reply back its names as asked
            reply = reply.replace(sent_name, lower)
        return reply

    def _socket(self, server: Server, fut: asyncio.Future[bytes]) -> socket.socket:
        sock = socket.socket(server.family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            local = "::" if server.family == socket.AF_INET6 else "0.0.0.0"
            low, high = self.ports
            for _ in range(PORT_TRIES):
                try:
                    sock.bind((local, low + secrets.randbelow(high - low + 1)))
                    break
                except OSError as exc:
                    if exc.errno != errno.EADDRINUSE:
                        raise
            else:
                sock.bind((local, 0))
            sock.connect((server.addr.host, server.addr.port))
        except OSError:
            sock.close()
            raise
        self._open[sock] = fut
        return sock

    def _forget(self, sock: socket.socket) -> None:
        if sock not in self._open:
            return  # closed already (by `close`)
        del self._open[sock]
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(sock.fileno())
        sock.close()

    def _readable(
        self, sock: socket.socket, fut: asyncio.Future[bytes], expect: tuple[bytes, bytes, bool]
    ) -> None:
        """Read whatever came; the connected socket only ever hears the queried address and
        port, and of that only our ID with our exact question is the answer."""
        qid, question, scrambled = expect
        while not fut.done():
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                return
            except OSError as exc:  # ICMP port unreachable and the like
                fut.set_exception(exc)
                return
            if len(data) < 12 or data[:2] != qid or not data[2] & 0x80 or data[4:6] != b"\0\1":
                self.ignored += 1
                continue
            got = data[12 : 12 + len(question)]
            if got == question:
                fut.set_result(data)
            elif got[:-4].lower() == question[:-4].lower() and got[-4:] == question[-4:]:
                if not scrambled:  # sent without 0x20: any case will do
                    fut.set_result(data)
                else:
                    fut.set_exception(_CaseLost())
            else:
                self.ignored += 1

    async def _ask_tcp(self, server: Server, packet: bytes, question_key: bytes) -> bytes:
        qid = secrets.token_bytes(2)
        async with asyncio.timeout(self.timeout):
            reader, writer = await asyncio.open_connection(server.addr.host, server.addr.port)
            try:
                writer.write(struct.pack(">H", len(packet)) + qid + packet[2:])
                await writer.drain()
                size = struct.unpack(">H", await reader.readexactly(2))[0]
                reply = await reader.readexactly(size)
            finally:
                writer.close()
        if reply[:2] != qid:
            raise wire.WireError("TCP reply ID does not match the query")
        got = reply[12 : 12 + len(question_key)]
        if got[:-4].lower() != question_key[:-4] or got[-4:] != question_key[-4:]:
            raise wire.WireError("TCP reply is for another question")
        return reply


def _expire(fut: asyncio.Future[bytes]) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())
