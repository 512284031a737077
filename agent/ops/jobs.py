"""The jobs process's work: everything slow, kept away from the process that answers DNS.

`houserules run` starts the jobs process beside the DNS (`python -m houserules.jobs --config
FILE`, which puts these jobs and the dashboard on one scheduler) and starts it again if it stops.
It owns the database work done on a schedule:

- migrations at start (after a safety copy), so the DNS process never needs SQLAlchemy;
- devices seen on the network, read from the query log (so the dashboard can ask whose they are);
- insights: events and activity rollups from the query log, every 30 s;
- retention of the query log, events and rollups, daily;
- blocklist refreshes: compiled in a child process into the compiled folder, which the DNS
  process notices and maps;
- weekly digests and alert emails to carers (`agent.digest`),
- Home Assistant through MQTT when `[mqtt]` is set (`agent.ops.homeassistant`),
- and, beside them, the parents' dashboard (composed in `houserules.jobs`).

It shares no memory with the DNS process: they meet in the database and the compiled lists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from agent.config import Config
from agent.dns import neighbours
from agent.lists import job as lists_job
from agent.ops import intake
from agent.ops.scheduler import Scheduler
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

    def schedule(self, scheduler: Scheduler) -> None:
        for name, fn, seconds in self.jobs():
            scheduler.every(name, fn, seconds)
        if self.home_assistant is not None:  # connects (and reconnects) on paho's own thread
            scheduler.run_soon("home assistant connect", self.home_assistant.start)

    def close(self) -> None:
        """At the end of the process: tell Home Assistant the box is going."""
        if self.home_assistant is not None:
            self.home_assistant.stop()
