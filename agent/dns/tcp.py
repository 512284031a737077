"""DNS over TCP, with limits: connections can never use up the process's file descriptors.

Each open connection holds a descriptor, and the DNS process needs some of its own to read
the household (a pause a parent just set), the neighbour table and the compiled lists, and to
ask the upstream. So:

- at start the soft RLIMIT_NOFILE is raised to the hard one, and `FD_RESERVE` descriptors are
  kept back: the connection limit is lowered to what is left, if need be;
- at the limit the listening socket is not read: new connections wait in the kernel's backlog
  until one closes (nothing is accepted only to be dropped);
- one address may hold `per_client` connections; more are closed as soon as they are accepted;
- a connection is closed when idle for `IDLE_SECONDS` (`BUSY_IDLE_SECONDS` once half the
  connections are in use), when a query takes longer than that to arrive, and when a reply
  cannot be written within `WRITE_SECONDS` (a client that sends and never reads).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import socket
import ssl
import struct
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent import dotnames
from agent.dns import wire
from agent.listening import listening_socket

if TYPE_CHECKING:
    from agent.dns.floodguard import FloodGuard
    from agent.dns.server import FilterResolver

log = logging.getLogger(__name__)

FD_RESERVE = 128  # descriptors never given to TCP clients
IDLE_SECONDS = 10.0
BUSY_IDLE_SECONDS = 2.0
WRITE_SECONDS = 5.0
BACKLOG = 128
ACCEPTS_PER_WAKE = 64
RETRY_ACCEPT_SECONDS = 0.5  # after the kernel said no descriptors are left
_LENGTH = struct.Struct(">H")
SNI_ATTR = "houserules_server_name"  # set on the SSL object by `remember_server_name`


def remember_server_name(obj: object, server_name: str | None, _context: ssl.SSLContext) -> None:
    """An SSLContext.sni_callback: keeps the name the client asked for on its connection (a
    server-side SSL object has no other way to say it); the handshake goes on either way."""
    with contextlib.suppress(AttributeError):
        setattr(obj, SNI_ATTR, server_name)


def descriptors_in_use() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64  # not Linux: a fair guess for a process this size


def tcp_budget(wanted: int, reserve: int = FD_RESERVE) -> int:
    """How many TCP connections fit beside what the process needs for itself."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        target = 65_536 if hard == resource.RLIM_INFINITY else min(hard, 65_536)
        if target > soft:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
    if soft == resource.RLIM_INFINITY:
        return wanted
    room = soft - descriptors_in_use() - reserve
    if room < wanted:
        log.warning(
            "only %d DNS-over-TCP connections fit in this process's file-descriptor limit "
            "(%d; %d kept for the household, the lists and the upstream): raise LimitNOFILE "
            "to allow the %d set in [dns] tcp_connections",
            max(room, 1),
            soft,
            reserve,
            wanted,
        )
    return max(1, min(wanted, room))


class TcpFront:
    """One listening socket's connections, under the limits (shared by all listen addresses
    through `TcpLimits`)."""

    def __init__(
        self,
        resolver: FilterResolver,
        guard: FloodGuard | None,
        limits: TcpLimits,
        sock: socket.socket,
        tls: ssl.SSLContext | None = None,
        box_names: tuple[str, ...] = (),
    ) -> None:
        """`tls`: DNS over TLS (port 853) on this socket; the same limits and decisions.
        `box_names`: the names under which each device has its own (`<dot id>.<box name>`)."""
        self.resolver, self.guard, self.limits, self.sock = resolver, guard, limits, sock
        self.tls, self.box_names = tls, box_names
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reading = False
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.limits.fronts.append(self)
        self.resume()

    def resume(self) -> None:
        if self._loop is not None and not self._reading:
            self._loop.add_reader(self.sock.fileno(), self._accept)
            self._reading = True

    def pause(self) -> None:
        if self._loop is not None and self._reading:
            self._loop.remove_reader(self.sock.fileno())
            self._reading = False

    async def close(self) -> None:
        self.pause()
        self._loop = None
        with contextlib.suppress(ValueError):
            self.limits.fronts.remove(self)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.sock.close()

    def _accept(self) -> None:
        limits = self.limits
        for _ in range(ACCEPTS_PER_WAKE):
            if limits.full:
                limits.pause_all()
                return
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.error("cannot accept a TCP connection: %s; trying again shortly", exc)
                    self.pause()
                    assert self._loop is not None
                    self._loop.call_later(RETRY_ACCEPT_SECONDS, self.resume)
                return  # ECONNABORTED and the like: that client is gone
            client = addr[0]
            if not limits.take(client):
                conn.close()
                continue
            conn.setblocking(False)
            task = asyncio.ensure_future(self._serve(conn, client))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket, client: str) -> None:
        writer: asyncio.StreamWriter | None = None
        try:
            who = None
            if self.tls is None:
                reader, writer = await asyncio.open_connection(sock=conn)
            else:
                reader, writer = await _tls_streams(conn, self.tls, self.limits.idle_seconds())
                asked = getattr(writer.get_extra_info("ssl_object"), SNI_ATTR, None)
                who = dotnames.client_key(asked, self.box_names)
            await self._queries(reader, writer, client, who)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass  # ssl.SSLError (a failed handshake) is an OSError too
        except Exception:  # one bad connection must never stop the others
            log.exception("unexpected error on a TCP connection from %s", client)
        finally:
            if writer is not None:
                writer.transport.abort()  # never wait to flush a reply nobody reads
            else:
                conn.close()
            self.limits.give_back(client)

    async def _queries(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str,
        who: str | None = None,
    ) -> None:
        """`who`: the device's own name on a DNS-over-TLS connection, as a client key
        (agent/dotnames.py): every query on the connection is decided for that device."""
        writer.transport.set_write_buffer_limits(high=16_384)
        resolver, guard, limits = self.resolver, self.guard, self.limits
        while True:
            async with asyncio.timeout(limits.idle_seconds()):
                size = _LENGTH.unpack(await reader.readexactly(2))[0]
                data = await reader.readexactly(size)
            if guard is not None and not guard.allow(client, limits.clock()):
                reply: bytes | None = guard.refuse(data, client)
            else:
                try:
                    answer = resolver.answer(data, client, True, who)
                    reply = answer if answer is None or isinstance(answer, bytes) else await answer
                except Exception:
                    log.exception("unexpected error answering a TCP query from %s", client)
                    reply = wire.error_reply(data, wire.SERVFAIL)
            if reply is None:
                return
            writer.write(_LENGTH.pack(len(reply)) + reply)
            async with asyncio.timeout(WRITE_SECONDS):
                await writer.drain()


async def _tls_streams(
    conn: socket.socket, context: ssl.SSLContext, handshake_seconds: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The server side of a TLS connection already accepted; the handshake has a deadline."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_accepted_socket(
        lambda: protocol, conn, ssl=context, ssl_handshake_timeout=handshake_seconds
    )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


class TcpLimits:
    """Open connections in all and per address, shared by every listening socket."""

    def __init__(
        self, total: int, per_client: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total, self.per_client, self.clock = total, per_client, clock
        self.open = 0
        self.by_client: dict[str, int] = {}  # only addresses with a connection open
        self.turned_away = 0  # connections closed at once: over the per-address limit
        self.fronts: list[TcpFront] = []

    @property
    def full(self) -> bool:
        return self.open >= self.total

    def idle_seconds(self) -> float:
        return BUSY_IDLE_SECONDS if self.open * 2 >= self.total else IDLE_SECONDS

    def take(self, client: str) -> bool:
        n = self.by_client.get(client, 0)
        if n >= self.per_client:
            self.turned_away += 1
            return False
        self.by_client[client] = n + 1
        self.open += 1
        return True

    def give_back(self, client: str) -> None:
        n = self.by_client.get(client, 0) - 1
        if n > 0:
            self.by_client[client] = n
        else:
            self.by_client.pop(client, None)
        self.open -= 1
        if not self.full:
            for front in self.fronts:
                front.resume()

    def pause_all(self) -> None:
        for front in self.fronts:
            front.pause()


def listen_tcp(host: str, port: int) -> socket.socket:
    """A non-blocking listening socket (raises OSError as `socket.bind` does)."""
    return listening_socket(host, port, BACKLOG, blocking=False)
