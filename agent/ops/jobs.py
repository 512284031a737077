"""The jobs process: everything slow, kept away from the process that answers DNS.

`houserules run` starts it beside the DNS (`python -m agent.ops.jobs --config FILE`) and starts it
again if it stops. It owns the database work done on a schedule:

- migrations at start (after a safety copy), so the DNS process never needs SQLAlchemy;
- devices seen on the network, read from the query log (so the dashboard can ask whose they are);
- insights: events and activity rollups from the query log, every 30 s;
- retention of the query log, events and rollups, daily;
- blocklist refreshes: compiled in a child process into the compiled folder, which the DNS
  process notices and maps;
- weekly digests and alert emails to carers (`agent.digest`),
- Home Assistant through MQTT when `[mqtt]` is set (`agent.ops.homeassistant`),
- and the parents' dashboard.

It shares no memory with the DNS process: they meet in the database and the compiled lists.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from agent import config as config_mod
from agent import logsafe
from agent.config import Config
from agent.dns import neighbours
from agent.lists import job as lists_job
from agent.ops import intake
from agent.rules.catalog import load_catalog
from agent.rules.household import Household
from agent.store import db
from agent.store.events import record_events
from agent.store.household import load_household
from agent.store.household_devices import record_seen
from agent.store.migrate import migrate
from agent.store.querylog import clients_since, newest_id, prune_query_log

log = logging.getLogger("houserules.jobs")
Job = tuple[str, Callable[[], object], float]


class Jobs:
    def __init__(self, cfg: Config, now: Callable[[], datetime] | None = None) -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.rules.timezone)
        self.now = now or (lambda: datetime.now(self.tz))
        self.engine = db.make_engine(cfg.database_url)
        result = migrate(self.engine)  # raises MigrationError, leaving the old database as it was
        if result.applied or result.stamped:
            log.info("%s", result.summary())
        self.catalog = load_catalog()
        self._seen_after = newest_id(cfg.database_path) if cfg.database_path else 0
        self.intake = intake.Intake()
        self._insights = None
        from agent.digest.jobs import EmailJobs  # weekly digests and alert emails to carers

        self.email = EmailJobs(cfg, self.engine, clock=self.now)
        self.extra_jobs: list[Job] = list(self.email.jobs())
        self.home_assistant = None  # [mqtt]: Home Assistant through MQTT discovery
        if cfg.mqtt.enabled:
            from agent.ops.homeassistant import HomeAssistant, MqttError

            try:
                self.home_assistant = HomeAssistant(cfg, self.engine, self.now)
            except MqttError as exc:  # the dashboard and the other jobs still matter
                log.error("Home Assistant is off: %s", exc)
            else:
                self.extra_jobs += self.home_assistant.jobs()

    # -- the jobs ------------------------------------------------------------------------------

    def record_seen_devices(self) -> int:
        """Devices that asked since the last run, new ones at a bounded rate (`intake`), with
        their notices and alerts; returns how many new ones were recorded."""
        seen, self._seen_after = clients_since(self.cfg.database_path, self._seen_after)
        if not seen:
            return 0
        found = record_seen(self.engine, seen, max_new=self.intake.room())
        self.intake.took(len(found.added))
        record_events(self.engine, intake.events(found, self.now()))
        if found.skipped:
            log.warning("%d new addresses at once were not recorded one by one", found.skipped)
        return len(found.added)

    def run_insights(self) -> None:
        from agent.insights.job import InsightsJob  # heavy: only this process loads it

        if self._insights is None:
            # a few batches a run: a first pass over a month of log is spread over several runs
            self._insights = InsightsJob(self.engine, self.catalog, self.cfg, max_batches=5)
        household = load_household(self.engine) or Household()
        self._insights.run(household, neighbours.read_neighbours(), self.now())

    def prune(self) -> int:
        from agent.insights import retention

        now = self.now()
        retention.prune(self.engine, self.cfg.store, now, self.cfg.rules.timezone)
        cutoff = now.timestamp() - self.cfg.store.retention_days * 86_400
        removed = prune_query_log(self.cfg.database_path, cutoff)
        days = self.cfg.store.retention_days
        log.info("retention: removed %d query-log rows older than %d days", removed, days)
        return removed

    def refresh_lists(self) -> None:
        """Fetch and compile every source; the DNS process maps the result when it lands."""
        for line in lists_job.compile_now(self.cfg, self.catalog).lines:
            log.info("%s", line)

    def jobs(self) -> list[Job]:
        return [
            ("devices seen", self.record_seen_devices, 15.0),
            ("insights", self.run_insights, 30.0),
            ("retention", self.prune, 86_400.0),
            ("blocklist refresh", self.refresh_lists, self.cfg.blocklists.refresh_hours * 3600),
            *self.extra_jobs,
        ]

    # -- the process ---------------------------------------------------------------------------

    def serve(self, stop: threading.Event) -> None:
        from apscheduler.schedulers.background import BackgroundScheduler

        from dashboard.server import serve_dashboard

        scheduler = BackgroundScheduler(timezone=self.tz)
        for name, fn, seconds in self.jobs():
            scheduler.add_job(
                guarded(name, fn),
                "interval",
                seconds=max(seconds, 1.0),
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,  # a run that starts late still runs
            )
        try:
            dashboard = serve_dashboard(self.cfg, lambda: self.engine)
        except OSError as exc:  # the port is taken: the other jobs still matter
            where = self.cfg.dashboard.listen
            log.error("the dashboard cannot listen on %s (%s); the other jobs carry on", where, exc)
            dashboard = None
        scheduler.start()
        if self.home_assistant is not None:
            self.home_assistant.start()
        log.info("jobs running: %s", ", ".join(name for name, _, _ in self.jobs()))
        try:
            stop.wait()
        finally:
            scheduler.shutdown(wait=True)
            if self.home_assistant is not None:
                self.home_assistant.stop()
            if dashboard is not None:
                dashboard.stop()


def guarded(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        started = time.monotonic()
        try:
            fn()
        except Exception as exc:  # one failing job must not stop the others
            log.error("%s failed: %s", name, exc)
        else:
            log.debug("%s done in %.2fs", name, time.monotonic() - started)

    return run


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
        jobs = Jobs(cfg)
    except (config_mod.ConfigError, db.StoreError) as exc:
        log.error("%s", exc)
        return 2
    os.nice(19)  # background work: the DNS and the query log come first
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    jobs.serve(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
