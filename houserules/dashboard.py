"""`houserules dashboard`: the parents' dashboard on its own, served by waitress on
`[dashboard] listen` until Ctrl-C, with a scheduler of its own for what a parent starts from a
page (updating the lists). (`houserules run` serves it too, in the jobs process, beside every
other job.)"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any
from zoneinfo import ZoneInfo

from agent.cli import CliError
from agent.config import Config
from agent.ops.scheduler import Scheduler
from agent.store import db
from agent.store.migrate import migrate


def register(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="serve the parents' dashboard on [dashboard] listen")
    p.set_defaults(func=cmd_dashboard)


def cmd_dashboard(cfg: Config, args: argparse.Namespace) -> int:
    from dashboard.server import serve_dashboard  # Flask loads only for this command

    try:
        engine = db.make_engine(cfg.database_url)
        result = migrate(engine)
    except db.StoreError as exc:  # MigrationError included: the old database is untouched
        raise CliError(str(exc)) from None
    if result.applied or result.stamped:
        print(result.summary())
    scheduler = Scheduler(ZoneInfo(cfg.rules.timezone))
    try:
        server = serve_dashboard(cfg, lambda: engine, jobs=scheduler)
    except OSError as exc:
        raise CliError(f"cannot listen on {cfg.dashboard.listen}: {exc.strerror or exc}") from None
    scheduler.start()
    print(f"HouseRules dashboard on {server.url} (Ctrl-C to stop)")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop()
    scheduler.shutdown()
    return 0
