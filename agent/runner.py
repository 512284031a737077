"""`houserules run`: the agent process that ties the parts together.

The DNS server answers on the event loop. Everything that touches the disk runs beside it, on
APScheduler's threads, and reaches the DNS only by swapping the one `Policy` reference:

- household changes (polled once a second through a single version number),
- the neighbour table (which MAC address has which IP),
- devices seen on the network (recorded so the dashboard can ask who they belong to),
- blocklist refreshes (compiled in a child process, so the DNS process stays small),
- turning the query log into events and activity summaries (insights),
- retention of the query log, events and summaries.

If the database cannot be opened the DNS still answers, with the strictest defaults (every
device treated as a child of unknown age under 13), and keeps trying to reach it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler

from agent import lists_job, neighbours, rules
from agent.catalog import load_catalog
from agent.config import Config
from agent.household import Household
from agent.insights import retention
from agent.insights.job import InsightsJob
from agent.policy import Policy, PolicyHolder
from agent.safesearch import load_safesearch
from agent.server import Decide, DnsServer, FilterResolver
from agent.store import db
from agent.store.household import household_version, load_household
from agent.store.household_devices import record_seen
from agent.store.logpipe import LogPipe
from agent.store.migrate import MigrationError, migrate
from agent.store.querylog import prune_query_log

log = logging.getLogger("houserules")


class Agent:
    def __init__(self, cfg: Config, *, decide: Decide = rules.decide) -> None:
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.rules.timezone)
        self.engine = None
        self._migration_failed = False
        self.insights: InsightsJob | None = None
        self._version: int | None = None
        self.catalog = load_catalog()
        self.safesearch = load_safesearch()
        index, self._index_stamp = lists_job.initial_index(cfg, self.catalog)
        self.holder = PolicyHolder(
            Policy(
                index=index,
                catalog=self.catalog,
                safesearch=self.safesearch,
                rules=cfg.rules,
            )
        )
        self._open_store()
        self.writer = LogPipe(cfg.database_path, cfg.store.log_queue_size)
        self.resolver = FilterResolver(
            cfg, self.holder, decide, submit=self.writer.submit, tz=self.tz
        )
        self.server = DnsServer(self.resolver)
        self.scheduler = BackgroundScheduler(timezone=self.tz)

    # -- jobs (scheduler threads; never the event loop) ----------------------------------------

    def _open_store(self) -> bool:
        try:
            if self.engine is None:
                engine = db.make_engine(self.cfg.database_url)
                result = migrate(engine)  # a safety copy first, if there is anything to apply
                if result.applied or result.stamped:
                    log.info("%s", result.summary())
                self.engine = engine
            return self.refresh_household()
        except MigrationError as exc:
            # It will not fix itself, and every try makes a safety copy: say so once, stop.
            self._migration_failed = True
            log.error("%s; filtering with the strictest defaults until it is fixed", exc)
            return False
        except db.StoreError as exc:
            self.engine = None
            log.error(
                "the database is unavailable (%s); filtering with the strictest defaults", exc
            )
            return False

    def refresh_household(self) -> bool:
        """Swap in the household if a parent changed it; True when it did."""
        if self.engine is None:
            return False if self._migration_failed else self._open_store()
        version = household_version(self.engine)
        if version == self._version:
            return False
        self.holder.update(household=load_household(self.engine))
        self._version = version
        log.info("house rules updated (version %d)", version)
        return True

    def refresh_neighbours(self) -> None:
        table = neighbours.read_neighbours()
        if table != self.holder.current.neighbours:
            self.holder.update(neighbours=table)

    def record_seen_devices(self) -> None:
        seen, self.resolver.seen = self.resolver.seen, {}
        if not seen or self.engine is None:
            return
        macs = self.holder.current.neighbours
        record_seen(self.engine, {ip: (macs.get(ip), ts) for ip, ts in seen.items()})

    def refresh_lists(self, force: bool = False) -> None:
        """Recompile if the sources changed (or always with force), then swap the index."""
        result = lists_job.refresh(self.cfg, self.catalog, self._index_stamp, force=force)
        if result is not None:
            index, self._index_stamp = result
            self.holder.update(index=index)
            self.resolver.cache.clear()

    def run_insights(self) -> None:
        """Turn new query-log rows into events and activity rollups (issue: insights)."""
        if self.engine is None:
            return
        if self.insights is None:
            # a few batches a run: a first pass over a month of log is spread over several runs
            self.insights = InsightsJob(self.engine, self.catalog, self.cfg, max_batches=5)
        p = self.holder.current
        self.insights.run(p.household or Household(), p.neighbours, datetime.now(self.tz))

    def prune(self, now: float | None = None) -> int:
        if self.engine is not None:
            when = datetime.fromtimestamp(now, self.tz) if now else datetime.now(self.tz)
            retention.prune(self.engine, self.cfg.store, when, self.cfg.rules.timezone)
        cutoff = (now or time.time()) - self.cfg.store.retention_days * 86_400
        removed = prune_query_log(self.cfg.database_path, cutoff)
        log.info(
            "retention: removed %d query-log rows older than %d days",
            removed,
            self.cfg.store.retention_days,
        )
        return removed

    def _guarded(self, job: str, fn: object) -> object:
        def run() -> None:
            try:
                fn()  # type: ignore[operator]
            except Exception as exc:  # a failing job must never take the DNS down
                log.error("%s failed: %s", job, exc)

        return run

    def schedule_jobs(self) -> None:
        r = self.cfg.rules
        jobs = (
            ("household", self.refresh_household, r.household_poll_seconds),
            ("neighbours", self.refresh_neighbours, r.neighbour_refresh_seconds),
            ("devices seen", self.record_seen_devices, 15.0),
            ("insights", self.run_insights, 30.0),
            ("compiled lists", lists_job.watch(self), 5.0),
            (
                "blocklist refresh",
                lambda: self.refresh_lists(force=True),
                self.cfg.blocklists.refresh_hours * 3600,
            ),
            ("retention", self.prune, 86_400.0),
        )
        for name, fn, seconds in jobs:
            # (APScheduler 3 reads an explicit next_run_time=None as "paused": only pass one
            # for the jobs that should also run straight away.)
            first = {"next_run_time": datetime.now(self.tz)} if name == "neighbours" else {}
            self.scheduler.add_job(
                self._guarded(name, fn),
                "interval",
                seconds=max(seconds, 0.2),
                id=name,
                name=name,
                max_instances=1,
                coalesce=True,
                **first,
            )

    # -- the process ---------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event) -> None:
        self.writer.start()
        await self.server.start()
        self.schedule_jobs()
        self.scheduler.start()
        where = ", ".join(f"{h}:{p}" for h, p in self.server.addresses)
        log.info(
            "HouseRules DNS answering on %s (UDP and TCP); %d listed names",
            where,
            len(self.holder.current.index),
        )
        try:
            await stop.wait()
        finally:
            self.scheduler.shutdown(wait=False)
            await self.server.close()
            self.writer.stop()
            log.info(
                "stopped; %d query-log rows written, %d dropped",
                self.writer.written,
                self.writer.dropped,
            )


def run(cfg: Config) -> int:
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise
    agent = Agent(cfg)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.serve(stop)

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
    return 0
