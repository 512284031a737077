"""The dashboard over HTTPS: a small TLS front in front of waitress, which has no TLS itself.

    front = HttpsFront(listen_host, listen_port, backend_port, ssl_context).start()

One port serves both: a connection that opens with a TLS handshake is decrypted and passed to
waitress on a loopback port; anything else is taken as plain HTTP and told to come back over
HTTPS (301 to the same host and path). Waitress then sees every request coming from loopback,
so the front notes which of its own loopback ports carries which device, and `RealClient`
puts the device's address back into the request (the login throttle and the children's page
rely on it). A handshake that never finishes, or more connections than `MAX_CONNECTIONS`,
cost the parent nothing: each waits with a deadline, beyond the cap they are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agent.config import Config, DashboardConfig
from agent.listening import listening_socket as listen

if TYPE_CHECKING:
    from flask import Flask

    from agent import boxcert
    from dashboard.server import DashboardServer

log = logging.getLogger("houserules.dashboard")
HANDSHAKE_SECONDS = 10.0
MAX_CONNECTIONS = 128
MAX_HEAD = 8192
TLS_HANDSHAKE = 0x16
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")
_PATH = re.compile(r"^/[\x21-\x7e]*$")


def https_wanted(dash: DashboardConfig) -> bool:
    """ "auto": HTTPS when the dashboard listens beyond the box itself (loopback stays HTTP)."""
    if dash.https != "auto":
        return dash.https == "on"
    return not ipaddress.ip_address(dash.listen.host).is_loopback


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


class HttpsDashboard:
    """What `serve_dashboard` returns when the dashboard is served over HTTPS."""

    def __init__(self, inner: DashboardServer, front: HttpsFront, cert: boxcert.BoxCert) -> None:
        self.inner, self.front, self.cert = inner, front, cert
        self.app = inner.app

    @property
    def port(self) -> int:
        return self.front.port

    @property
    def url(self) -> str:
        host = str(self.front.listener.getsockname()[0])
        return f"https://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def stop(self, timeout: float = 5.0) -> None:
        self.front.stop(timeout)
        self.inner.stop(timeout)


def box_certificate(cfg: Config) -> boxcert.BoxCert:
    """The box's certificate for its names and addresses (made or renewed as needed)."""
    from agent import boxcert  # cryptography: loaded only where HTTPS is served

    return boxcert.for_config(cfg)


def serve_https(cfg: Config, app: Flask, listener: socket.socket | None = None) -> HttpsDashboard:
    """Waitress on a loopback port of its own, the TLS front on `[dashboard] listen` (on
    `listener` when the socket is already listening there)."""
    from dashboard.server import DashboardServer

    cert = box_certificate(cfg)
    app.config["SESSION_COOKIE_SECURE"] = True
    app.config["TLS_FINGERPRINT"] = cert.fingerprint
    listen = cfg.dashboard.listen
    inner = DashboardServer(app, "127.0.0.1", 0)
    front = HttpsFront(
        listen.host,
        listen.port,
        inner.port,
        server_context(str(cert.cert_file), str(cert.key_file)),
        listener,
    )
    inner.app.wsgi_app = RealClient(inner.app.wsgi_app, front.clients)  # type: ignore[method-assign]
    inner.start()
    front.start()
    log.info("dashboard certificate fingerprint (SHA-256): %s", cert.fingerprint)
    return HttpsDashboard(inner, front, cert)


class RealClient:
    """WSGI middleware: the device's own address and the https scheme for requests that came
    through the front (looked up by the loopback port the front connected from)."""

    def __init__(self, app: Callable[..., Any], clients: dict[int, str]) -> None:
        self.app, self.clients = app, clients

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        try:
            device = self.clients.get(int(environ.get("REMOTE_PORT", 0)))
        except ValueError:
            device = None
        if device is not None and environ.get("REMOTE_ADDR") in ("127.0.0.1", "::1"):
            environ["REMOTE_ADDR"] = device
            environ["wsgi.url_scheme"] = "https"
            environ["HTTPS"] = "on"
        return self.app(environ, start_response)


class HttpsFront:
    def __init__(
        self,
        host: str,
        port: int,
        backend_port: int,
        context: ssl.SSLContext,
        listener: socket.socket | None = None,  # already listening on host:port
    ) -> None:
        self.listener = listener or listening_socket(host, port)
        self.listener.setblocking(False)
        self.backend_port, self.context = backend_port, context
        self.clients: dict[int, str] = {}  # front's loopback port -> the device's address
        self.open = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="dashboard-tls", daemon=True)
        self._accepting: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    def start(self) -> HttpsFront:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(timeout)
        self.listener.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._accepting = self.loop.create_task(self._accept())
        self.loop.run_forever()
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()

    def _shutdown(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        self.loop.stop()

    async def _accept(self) -> None:
        while True:
            try:
                sock, addr = await self.loop.sock_accept(self.listener)
            except OSError as exc:  # out of descriptors, say: wait a moment, keep serving
                log.warning("dashboard: cannot accept a connection: %s", exc)
                await asyncio.sleep(0.1)
                continue
            if self.open >= MAX_CONNECTIONS:
                sock.close()
                continue
            self.open += 1
            task = self.loop.create_task(self._serve(sock, addr[0]))
            self._tasks.add(task)  # the loop holds tasks weakly: keep each until it ends
            task.add_done_callback(self._tasks.discard)

    async def _serve(self, sock: socket.socket, device: str) -> None:
        try:
            first = await asyncio.wait_for(self._peek(sock), HANDSHAKE_SECONDS)
            if first == bytes([TLS_HANDSHAKE]):
                await self._tls(sock, device)
            elif first:
                await self._redirect(sock)
        except (TimeoutError, OSError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            sock.close()

    async def _peek(self, sock: socket.socket) -> bytes:
        ready = self.loop.create_future()
        self.loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
        try:
            await ready
        finally:
            self.loop.remove_reader(sock.fileno())
        return sock.recv(1, socket.MSG_PEEK)

    async def _streams(
        self, sock: socket.socket, context: ssl.SSLContext | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader = asyncio.StreamReader(limit=MAX_HEAD)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await self.loop.connect_accepted_socket(
            lambda: protocol,
            sock.dup(),
            ssl=context,
            ssl_handshake_timeout=HANDSHAKE_SECONDS if context else None,
        )
        return reader, asyncio.StreamWriter(transport, protocol, reader, self.loop)

    async def _tls(self, sock: socket.socket, device: str) -> None:
        reader, writer = await self._streams(sock, self.context)
        try:
            back_reader, back_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            writer.close()
            return
        local_port = back_writer.get_extra_info("sockname")[1]
        self.clients[local_port] = device
        try:
            await asyncio.gather(_pump(reader, back_writer), _pump(back_reader, writer))
        finally:
            self.clients.pop(local_port, None)
            for w in (writer, back_writer):
                w.close()

    async def _redirect(self, sock: socket.socket) -> None:
        reader, writer = await self._streams(sock, None)
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANDSHAKE_SECONDS)
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            writer.close()
            return
        target = redirect_target(head.decode("latin-1").split("\r\n"))
        if target is None:
            body = b"Use https:// to open the HouseRules dashboard.\n"
            status = b"400 Bad Request"
            extra = b""
        else:
            body = f"The dashboard is at {target}\n".encode()
            status = b"301 Moved Permanently"
            extra = b"Location: " + target.encode() + b"\r\n"
        writer.write(
            b"HTTP/1.1 " + status + b"\r\n" + extra + b"Content-Type: text/plain\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        with contextlib.suppress(OSError):
            await asyncio.wait_for(writer.drain(), HANDSHAKE_SECONDS)
        writer.close()


def listening_socket(host: str, port: int, backlog: int = 64) -> socket.socket:
    """A TCP socket listening on host:port (an IPv6 one on IPv6 only)."""
    return listen(host, port, backlog)


def redirect_target(lines: Iterable[str]) -> str | None:
    """https://<Host><path> for a plain-HTTP request head; None when it names no sane host."""
    lines = list(lines)
    parts = lines[0].split(" ") if lines else []
    path = parts[1] if len(parts) == 3 else "/"
    if not _PATH.match(path):
        path = "/"
    host = next(
        (ln.split(":", 1)[1].strip() for ln in lines[1:] if ln.lower().startswith("host:")), ""
    )
    if not _HOST.match(host):
        return None
    return f"https://{host}{path}"


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()
