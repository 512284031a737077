"""Serving the dashboard: waitress on a thread, for `houserules run` and `houserules dashboard`.

    server = serve_dashboard(cfg, engine_factory, jobs=scheduler)  # started; .url, .port
    server.stop()

Waitress is a production WSGI server; it trusts no proxy headers, so the address a request
comes from is the device's own (the login throttle and the children's page rely on that). It is
driven through its public API only: `create_server`, `run`, `close`. Temporary changes ("more
time", a timed unblock) are overlays that end by themselves (`agent.rules.overlays`), so the
server runs no housekeeping; a lists update a parent starts runs on the jobs process's
scheduler (`agent.ops.scheduler`), composed with the dashboard in `houserules.jobs`.
"""

from __future__ import annotations

import logging
import socket
import threading

import waitress
from flask import Flask

from agent.config import Config
from agent.store import accounts
from dashboard import create_app
from dashboard.box import EngineFactory, Jobs, box
from dashboard.security import announce_setup_code
from dashboard.tls import HttpsDashboard, https_wanted, serve_https

log = logging.getLogger("houserules.dashboard")
THREADS = 4


class DashboardServer:
    def __init__(self, app: Flask, host: str, port: int, sock: socket.socket | None = None) -> None:
        """Waitress on host:port, or on `sock` when that is already listening there."""
        self.app = app
        where: dict[str, object]
        if sock is not None:
            where = {"sockets": [sock]}
        else:
            where = {"listen": f"[{host}]:{port}" if ":" in host else f"{host}:{port}"}
        # poll(), not select(): closing from another thread (stop) is then safe for its loop
        self.server = waitress.create_server(
            app, threads=THREADS, ident="HouseRules", asyncore_use_poll=True, **where
        )
        self._thread = threading.Thread(target=self.server.run, name="dashboard", daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.effective_port)  # type: ignore[union-attr]

    @property
    def url(self) -> str:
        host = str(self.server.effective_host)  # type: ignore[union-attr]
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}/"

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening now; the serving thread ends once the open connections have closed
        (it is a daemon: a browser's idle connection never holds the process up)."""
        self.server.close()
        self._thread.join(timeout)


def serve_dashboard(
    cfg: Config,
    engine_factory: EngineFactory,
    *,
    app: Flask | None = None,
    jobs: Jobs | None = None,
    sock: socket.socket | None = None,
    announce: bool = True,
) -> DashboardServer | HttpsDashboard:
    """Start the dashboard on `[dashboard] listen` (on `sock` when that already listens there);
    stop it with `.stop()`. `jobs` is the scheduler that runs what a parent starts from a page.
    Over HTTPS when `[dashboard] https` says so (`dashboard.tls`). `announce`: log the address
    and, with no parent account yet, the setup code (`dashboard.ondemand` did that already)."""
    app = app or create_app(cfg=cfg, engine_factory=engine_factory, jobs=jobs)
    listen = cfg.dashboard.listen
    server: DashboardServer | HttpsDashboard
    if https_wanted(cfg.dashboard):
        server = serve_https(cfg, app, sock)
    else:
        server = DashboardServer(app, listen.host, listen.port, sock).start()
    if announce:
        log.info("dashboard on %s", server.url)
        announce_setup(app, server.url)
    return server


def announce_setup(app: Flask, url: str) -> str | None:
    """With no parent account yet, log the setup code (the first account needs it)."""
    with app.app_context():
        engine = box().engine
        return announce_setup_code(
            lambda: accounts.has_accounts(engine()), app.config["SETUP_CODE_FILE"], url
        )
