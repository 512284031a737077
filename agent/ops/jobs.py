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

Two boxes, one household: each box runs its own jobs process against the shared database, but
the household's jobs (`HOUSEHOLD_JOBS`) run on one box at a time, the one holding the database
lease (`agent.ops.leader`). They are the jobs that read what both boxes share or write shared
rows and send mail: devices seen (from the shared query log), insights, budgets counting,
device names over mDNS (they land on the shared devices), retention, weekly digests, alert
emails and Home Assistant (one MQTT client for the household; it connects only while this box
holds the lease). The rest are this box's own and run on both: the DHCP lease file (this box's
dnsmasq), the blocklist refresh (this box's compiled lists, which its DNS maps), the lists
update a parent starts, and the dashboard.

It shares no memory with the DNS process: they meet in the database and the compiled lists.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from agent.config import Config
from agent.dns import neighbours
from agent.ops import intake
from agent.ops.leader import Clock, HouseholdLease
from agent.ops.scheduler import Scheduler
from agent.rules.catalog import load_catalog
from agent.rules.household import Household
from agent.store import db
from agent.store.budgets import has_budgets, record_use
from agent.store.household import load_household
from agent.store.household_devices import list_devices, note_hostnames, record_seen
from agent.store.querylog import clients_since, newest_id, prune_query_log
from agent.store.uptodate import migrate  # Alembic loads only when there is work

log = logging.getLogger("houserules.jobs")
BUDGET_SECONDS = 10.0  # how often the minutes of daily budgets are counted
Job = tuple[str, Callable[[], object], float]
MDNS_PER_RUN = 64  # devices asked for their mDNS name in one run
HOUSEHOLD_JOBS = frozenset(
    {
        "devices seen",
        "insights",
        "budgets",
        "device names (mDNS)",
        "retention",
        "weekly digests",
        "alert emails",
        "home assistant",
    }
)  # one box at a time (see above); every other job runs on each box
AT_TAKEOVER = 300.0  # household jobs at most this many seconds apart run at once on a takeover


class Jobs:
    def __init__(
        self,
        cfg: Config,
        now: Callable[[], datetime] | None = None,
        *,
        lease_clock: Clock | None = None,
        migrate_apart: bool = False,
    ) -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.rules.timezone)
        self.now = now or (lambda: datetime.now(self.tz))
        self.engine = db.make_engine(cfg.database_url)
        # raises StoreError, leaving the old database as it was; `migrate_apart` (the jobs
        # process): any work in a child interpreter, which takes Alembic's 20 MB away with it
        result = migrate(self.engine, apart=migrate_apart)
        if result.applied or result.stamped:
            log.info("%s", result.summary())
        self.catalog = load_catalog()
        self._seen_after = newest_id(self.engine)
        self.intake = intake.Intake()
        self._insights = None
        self._insights_running = threading.Lock()  # the budgets job and insights share it
        self.lease = HouseholdLease(self.engine, cfg.jobs, clock=lease_clock)
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
        seen, self._seen_after = clients_since(self.engine, self._seen_after)
        if not seen:
            return 0
        found = record_seen(self.engine, seen, max_new=self.intake.room())
        self.intake.took(len(found.added))
        intake.record(self.engine, found, self.now())
        if found.skipped:
            log.warning("%d new addresses at once were not recorded one by one", found.skipped)
        return len(found.added)

    def record_leases(self) -> int:
        """Devices that took an address from HouseRules' DHCP: a new lease is a new device (at
        the same bounded rate), and what each calls itself reaches the Devices page."""
        from agent.ops.dhcp import LEASES_NAME, read_leases

        dhcp = self.cfg.dhcp
        leases = read_leases(self.cfg.resolve(dhcp.state_dir) / LEASES_NAME)
        now = self.now().timestamp()
        current = [lease for lease in leases if lease.expires == 0 or lease.expires > now]
        if not current:
            return 0
        granted = {
            lease.ip: (
                lease.mac,
                min(now, lease.expires - dhcp.lease_hours * 3600) if lease.expires else now,
            )
            for lease in current
        }
        found = record_seen(self.engine, granted, max_new=self.intake.room())
        self.intake.took(len(found.added))
        intake.record(self.engine, found, self.now())
        note_hostnames(
            self.engine, {lease.mac: lease.hostname for lease in current if lease.hostname}
        )
        return len(found.added)

    def name_devices(self, lookup: Callable[..., dict[str, str]] | None = None) -> int:
        """Ask devices seen in the last day that have no name of their own yet for the name
        they announce over mDNS; returns how many were named."""
        since = self.now() - timedelta(days=1)
        quiet = [
            d
            for d in list_devices(self.engine)
            if d.mac and d.ip and ":" not in d.ip and not d.hostname
            and d.last_seen is not None and d.last_seen >= since
        ][:MDNS_PER_RUN]  # fmt: skip
        if not quiet:
            return 0
        from agent.devicenames import clean_hostname
        from agent.ops import mdns  # (and dnslib) only when there is a device to ask

        names = (lookup or mdns.lookup_names)([d.ip for d in quiet])
        by_mac = {d.mac: clean_hostname(names.get(d.ip or "")) for d in quiet}
        return note_hostnames(self.engine, {m: n for m, n in by_mac.items() if m and n})

    def run_insights(self) -> None:
        if not self._insights_running.acquire(blocking=False):
            return  # a run is under way (started by the other job): it covers this one
        try:
            self._run_insights()
        finally:
            self._insights_running.release()

    def run_for_budgets(self) -> None:
        """Insights more often while any child has a daily budget, so a budget that runs out
        takes hold within seconds of the log's commit rather than up to 30 s later."""
        if has_budgets(self.engine):
            self.run_insights()

    def _run_insights(self) -> None:
        from agent.insights.job import InsightsJob  # heavy: only this process loads it

        if self._insights is None:
            # 50,000 rows a run at most: a first pass over a month of log spans several runs
            self._insights = InsightsJob(self.engine, self.catalog, self.cfg, max_batches=25)
        household = load_household(self.engine) or Household()
        now = self.now()
        self._insights.run(household, neighbours.read_neighbours(), now)
        self.record_budgets(household, now)

    def record_budgets(self, household: Household, now: datetime) -> None:
        """Today's minutes per daily budget, counted right after the estimate moved; the
        household version moves when a budget is used up, so the DNS process blocks within
        its poll (`agent.store.budgets.record_use`)."""
        if not household.budgets:
            return
        names = {c.id: c.name for c in household.children}
        categories = {a.id: a.category for a in self.catalog.apps.values()}
        report = record_use(self.engine, names, categories, now)
        if report.flipped:
            log.info("budgets: %d used up or open again", report.flipped)

    def prune(self) -> int:
        from agent.insights import retention

        now = self.now()
        retention.prune(self.engine, self.cfg.store, now, self.cfg.rules.timezone)
        cutoff = now.timestamp() - self.cfg.store.retention_days * 86_400
        removed = prune_query_log(self.engine, cutoff)
        days = self.cfg.store.retention_days
        log.info("retention: removed %d query-log rows older than %d days", removed, days)
        return removed

    def refresh_lists(self) -> None:
        """Fetch and compile every source; the DNS process maps the result when it lands."""
        from agent.lists import job as lists_job  # hours apart: loaded when first needed

        for line in lists_job.compile_now(self.cfg, self.catalog).lines:
            log.info("%s", line)

    def jobs(self) -> list[Job]:
        return [
            ("devices seen", self.record_seen_devices, 15.0),
            *(
                [("DHCP leases", self.record_leases, self.cfg.dhcp.lease_poll_seconds)]
                if self.cfg.dhcp.enabled
                else []
            ),
            ("insights", self.run_insights, 30.0),
            ("budgets", self.run_for_budgets, BUDGET_SECONDS),
            ("device names (mDNS)", self.name_devices, 300.0),
            ("retention", self.prune, 86_400.0),
            ("blocklist refresh", self.refresh_lists, self.cfg.blocklists.refresh_hours * 3600),
            *self.extra_jobs,
        ]

    def schedule(self, scheduler: Scheduler) -> None:
        """Every job on `scheduler`, the household's ones guarded by the lease, which is asked
        for now and then kept by a thread of its own."""
        at_takeover: list[tuple[str, Callable[[], object]]] = []
        for name, fn, seconds in self.jobs():
            if name in HOUSEHOLD_JOBS:
                fn = self.lease.only_while_holding(name, fn)
                if seconds <= AT_TAKEOVER:
                    at_takeover.append((name, fn))
            scheduler.every(name, fn, seconds)

        def took_over() -> None:
            for name, fn in at_takeover:
                scheduler.run_soon(name, fn)
            if self.home_assistant is not None:  # connects (and reconnects) on paho's thread
                scheduler.run_soon("home assistant connect", self.home_assistant.start)

        self.lease.when_gained(took_over)
        if self.home_assistant is not None:
            self.lease.when_lost(self.home_assistant.stop)
        self.lease.start()

    def close(self) -> None:
        """At the end of the process: tell Home Assistant the box is going, and hand the
        household's jobs over to the other box, if there is one."""
        if self.home_assistant is not None:
            self.home_assistant.stop()
        self.lease.close()
