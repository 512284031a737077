"""The jobs process: every job of `agent.ops.jobs` and the parents' dashboard, on one scheduler.

`houserules run` starts it beside the DNS (`python -m agent.ops.lean -m houserules.jobs --config
FILE`: no OpenSSL until something uses it) and starts it again if it stops. It shares no memory with
the DNS process: they meet in the database and the compiled lists. What is needed rarely loads on
first use, so the process stays small on a small Pi: the dashboard listens from the start but loads
Flask when first opened (`dashboard.ondemand`), email's modules when there is email to send, and a
migration runs in a child interpreter that takes Alembic away with it (`agent.store.uptodate`).
"""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading

from agent import config as config_mod
from agent import logsafe
from agent.ops.jobs import Jobs
from agent.ops.priority import background
from agent.ops.scheduler import Scheduler
from agent.store import db
from dashboard.ondemand import OnDemandDashboard

log = logging.getLogger("houserules.jobs")


def serve(jobs: Jobs, stop: threading.Event) -> None:
    """Run the jobs and the dashboard until `stop` is set."""
    scheduler = Scheduler(jobs.tz)
    jobs.schedule(scheduler)
    dashboard: OnDemandDashboard | None
    try:  # listens now; Flask and the pages load when a parent first opens one
        dashboard = OnDemandDashboard(jobs.cfg, lambda: jobs.engine, jobs=scheduler).start()
    except OSError as exc:  # the port is taken: the other jobs still matter
        where = jobs.cfg.dashboard.listen
        log.error("the dashboard cannot listen on %s (%s); the other jobs carry on", where, exc)
        dashboard = None
    scheduler.start()
    log.info("jobs running: %s", ", ".join(scheduler.names))
    try:
        stop.wait()
    finally:
        if dashboard is not None:
            dashboard.stop()
        scheduler.shutdown(wait=True)
        jobs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="houserules-jobs")
    parser.add_argument("--config", metavar="FILE")
    args = parser.parse_args(argv)
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logsafe.install()  # names and addresses a device sent appear in lines; one line each
    logging.basicConfig(level=logging.INFO, format=fmt)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    try:
        cfg = config_mod.load(config_mod.find_config(args.config))
        jobs = Jobs(cfg, migrate_apart=True)
    except (config_mod.ConfigError, db.StoreError) as exc:
        log.error("%s", exc)
        return 2
    gc.collect()  # what building the models left in cycles: the next heap trim gives it back
    background(19)  # the DNS and the query log come first (agent.ops.priority)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve(jobs, stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
