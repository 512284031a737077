"""The dashboard in the jobs process: listening from the start, built on the first connection.

    dashboard = OnDemandDashboard(cfg, engine_factory, jobs=scheduler).start()  # .url, .port
    dashboard.stop()

Most hours nobody opens the dashboard, yet Flask, its pages, waitress and the certificate code
would hold a fifth of the jobs process's memory. So at start only the socket is opened (a port
that is taken is still found at start) and the address and any setup code are logged; the
first connection waits in the socket's backlog while the app is built (well under a second),
then waitress takes the socket over and answers it like any other. If the app cannot be built,
the log says why, and over plain HTTP every request is answered 503 with the reason, so the
parent sees it too; the DNS and the other jobs carry on either way.
"""

from __future__ import annotations

import logging
import selectors
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from agent.config import Config
from agent.store import accounts
from dashboard.security import announce_setup_code, setup_code_path
from dashboard.tls import https_wanted, listening_socket

log = logging.getLogger("houserules.dashboard")
ANSWER_SECONDS = 5.0  # a client that sends nothing is dropped after this, when failed
MAX_HEAD = 8192


class Server(Protocol):
    def stop(self, timeout: float = 5.0) -> None: ...


class OnDemandDashboard:
    def __init__(self, cfg: Config, engine_factory: Callable[[], Any], *, jobs: Any = None) -> None:
        self.cfg, self.engine_factory, self.jobs = cfg, engine_factory, jobs
        listen = cfg.dashboard.listen
        self.sock = listening_socket(listen.host, listen.port)
        self.https = https_wanted(cfg.dashboard)
        self.server: Server | None = None
        self.failure: str | None = None  # why the app could not be built
        self._wake_r, self._wake_w = socket.socketpair()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="dashboard-door", daemon=True)
        self.built = threading.Event()  # set once the app is serving or has failed to build

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = str(self.sock.getsockname()[0])
        scheme = "https" if self.https else "http"
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def start(self) -> OnDemandDashboard:
        log.info("dashboard on %s (loaded when first opened)", self.url)
        engine = self.engine_factory
        code_file = setup_code_path(self.cfg.resolve(self.cfg.dashboard.secret_key_file))
        announce_setup_code(lambda: accounts.has_accounts(engine()), code_file, self.url)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            self._stopped = True
            server = self.server
        self._wake_w.send(b"x")
        self._thread.join(timeout)
        if server is not None:
            server.stop(timeout)
        else:
            self.sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def _run(self) -> None:
        if not self._wait_for_connection():
            return
        try:
            server = self._build()
        except Exception as exc:  # any cause at all: the parent and the log must learn it
            self.failure = f"{type(exc).__name__}: {exc}"
            log.error("the dashboard could not start: %s", self.failure)
            self.built.set()
            self._answer_failure()
            return
        with self._lock:
            self.server = server
            stopped = self._stopped
        self.built.set()
        if stopped:
            server.stop()

    def _build(self) -> Server:
        from dashboard.server import serve_dashboard  # Flask and the pages load here

        log.info("dashboard: first request, loading the pages")
        return serve_dashboard(
            self.cfg, self.engine_factory, jobs=self.jobs, sock=self.sock, announce=False
        )

    def _wait_for_connection(self) -> bool:
        """True once a connection waits on the socket; False when stopped first."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while True:
                ready = {key.fileobj for key, _ in selector.select()}
                if self._wake_r in ready:
                    return False
                if self.sock in ready:
                    return True

    def _answer_failure(self) -> None:
        """Every connection until stopped: 503 and the reason over HTTP; over HTTPS (no
        certificate to speak TLS with, perhaps) the connection is closed."""
        body = (
            "The HouseRules dashboard could not start, so this page cannot be shown.\n"
            f"The reason: {self.failure}\n"
            "Filtering and the box's other work carry on. Restarting the box may help; "
            "the box's log has the details.\n"
        ).encode()
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        self.sock.setblocking(False)  # a connection gone before accept() must not hang it
        while self._wait_for_connection():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            with conn:
                if self.https:
                    continue
                try:
                    conn.settimeout(ANSWER_SECONDS)
                    conn.recv(MAX_HEAD)
                    conn.sendall(head + body)
                except OSError:
                    pass
