"""`houserules run`: the DNS process, and the two processes it looks after.

This process answers DNS and does little else, so it stays small and quick:

- the household is read with plain sqlite3 (`agent.store.snapshot`), or plain psycopg when the
  database is PostgreSQL (`agent.store.pgsnapshot`), when its version moves (polled once a
  second), and swapped into the one `Policy` reference; a copy of the last one read is kept
  in the data folder for when the database is away (`agent.store.household_follower`);
- the neighbour table (which MAC address has which IP) is read every few seconds;
- a compiled index that changed on disk (a refresh by the jobs process, `houserules lists
  update`, an edited list file) is mapped and swapped in whole;
- query-log rows go to the writer process (`agent.store.logproc`) through a pipe;
- its counters are copied to a file for `/metrics` every two seconds (`agent.ops.stats`);
- everything else that touches the database (migrations, devices seen, insights, retention,
  list downloads, the dashboard and emails) runs in the jobs process (`houserules.jobs`, the
  jobs of `agent.ops.jobs` composed with the dashboard), which is started with the DNS and
  started again if it stops.

If the database cannot be read, the DNS still answers: with the last house rules read, or the
copy of them kept on disk after a restart, or with none of those the strictest defaults (every
device treated as a child of unknown age under 13); and it keeps trying.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

from agent import logsafe
from agent.config import Config
from agent.dns import native, neighbours
from agent.dns.server import Decide, DnsServer, FilterResolver, ListenError
from agent.lists import job as lists_job
from agent.ops import lean, stats
from agent.ops.dhcp import Dnsmasq
from agent.rules import decide as rules
from agent.rules.catalog import load_catalog
from agent.rules.policy import Policy, PolicyHolder
from agent.rules.safesearch import load_safesearch
from agent.store.household_follower import HouseholdFollower, household_source
from agent.store.logpipe import LogPipe
from agent.store.urls import shown

log = logging.getLogger("houserules")
JOBS_RESTART_SECONDS = (1, 5, 30, 120)  # back-off between restarts of the jobs process
REBUILD_SECONDS = 60.0  # between attempts to compile a damaged index again
INDEX_CHECK_SECONDS = 600.0  # between checks of the mapped index's files (~7 ms a 1M names)
HOUSEHOLD_COPY = "household-copy.json"  # the last household read, in the data folder


def household_copy(cfg: Config) -> Path:
    """The copy of the last household read: in the data folder, beside the counters file."""
    return stats.stats_path(cfg).parent / HOUSEHOLD_COPY


def query_log(cfg: Config) -> LogPipe:
    """The query-log writer: to the SQLite file or the PostgreSQL database, its spool in the
    data folder (`agent.store.logpipe`, `logproc`)."""
    return LogPipe.for_config(cfg)


class Agent:
    def __init__(self, cfg: Config, *, decide: Decide = rules.decide, spawn_jobs: bool = True):
        self.cfg = cfg
        self.tz = ZoneInfo(cfg.rules.timezone)
        self.spawn_jobs = spawn_jobs
        self.catalog = load_catalog()
        index, self._index_stamp = lists_job.initial_index(cfg, self.catalog)
        self._rebuild_after = 0.0  # when a damaged index may be compiled again
        self.holder = PolicyHolder(
            Policy(index=index, catalog=self.catalog, safesearch=load_safesearch(), rules=cfg.rules)
        )
        self.household = HouseholdFollower(
            household_source(cfg),
            shown(cfg.store.url),
            "the strictest defaults apply",
            copy=household_copy(cfg),
        )
        self.refresh_household()
        self.writer = query_log(cfg)
        self.resolver = FilterResolver(
            cfg, self.holder, decide, submit=self.writer.submit, tz=self.tz
        )
        household = self.household
        self.resolver.database_id = lambda: household.database_id
        self.server = DnsServer(self.resolver)
        self.ticker = Ticker()
        # IP -> MAC; a test on loopback (which has no ARP) hands in a neighbour table file
        self.read_neighbours: Callable[[], dict[str, str]] = neighbours.read_neighbours
        self.jobs_process: subprocess.Popen[bytes] | None = None
        # off unless [dhcp] enabled; its settings follow the addresses kept on the Devices page
        self.dhcp = Dnsmasq(cfg, devices=self._devices) if cfg.dhcp.enabled else None
        self._jobs_restarts = 0
        self._jobs_next_start = 0.0
        self.stats_path = stats.stats_path(cfg)
        self._starts = stats.previous_starts(self.stats_path) + 1
        self._started = time.time()

    @property
    def jobs_restarts(self) -> int:
        return self._jobs_restarts

    def write_stats(self) -> None:
        """The counters for /metrics, in a file the dashboard reads (`agent.ops.stats`)."""
        stats.write_stats(self.stats_path, stats.collect(self, self._starts, self._started))

    # -- kept fresh from the ticker thread (never the event loop) ----------------------------

    def _devices(self) -> tuple:
        household = self.holder.current.household
        return household.devices if household is not None else ()

    def refresh_household(self) -> bool:
        """Swap in the household if a parent changed it; True when it did."""
        return self.household.refresh(self.holder)

    def refresh_neighbours(self) -> None:
        table = self.read_neighbours()
        if table != self.holder.current.neighbours:
            self.holder.update(neighbours=table)

    def refresh_lists(self, force: bool = False) -> None:
        """Map a newly compiled index (compiling first if the local sources changed, or if
        the index in use is damaged: at most once a minute then)."""
        if self.holder.current.index.damaged and time.monotonic() >= self._rebuild_after:
            self._rebuild_after = time.monotonic() + REBUILD_SECONDS
            force = True
        result = lists_job.refresh(self.cfg, self.catalog, self._index_stamp, force=force)
        if result is not None:
            index, self._index_stamp = result
            self.holder.update(index=index)
            self.resolver.cache.clear()
            log.info("lists updated: %d names (%s)", len(index), index.engine)

    def check_index(self) -> None:
        """Sum the mapped index's files again: damage on disk reaches the mapped pages."""
        index = self.holder.current.index
        damaged = [] if index.damaged else index.verify()  # (a damaged one is being rebuilt)
        if damaged:
            log.error("the compiled lists were damaged while in use (%s)", ", ".join(damaged))
            self.holder.update(index=lists_job.reload_damaged(self.cfg))
            self.resolver.cache.clear()

    def look_after_jobs(self) -> None:
        """Start the jobs process, and start it again (with back-off) if it stopped."""
        proc = self.jobs_process
        if proc is not None and proc.poll() is None:
            return
        if proc is not None:
            wait = JOBS_RESTART_SECONDS[min(self._jobs_restarts, len(JOBS_RESTART_SECONDS) - 1)]
            if self._jobs_next_start == 0.0:
                log.error(
                    "the jobs process stopped (exit %s); starting it in %ds", proc.returncode, wait
                )
                self._jobs_next_start = time.monotonic() + wait
            if time.monotonic() < self._jobs_next_start:
                return
            self._jobs_restarts += 1
        self._jobs_next_start = 0.0
        config = None if self.cfg.source == "built-in defaults" else self.cfg.source
        self.jobs_process = subprocess.Popen(lean.jobs_process_command(config))

    def _stop_jobs(self) -> None:
        proc = self.jobs_process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()

    # -- the process ---------------------------------------------------------------------------

    async def serve(self, stop: asyncio.Event) -> None:
        self.writer.start()
        try:
            await self.server.start()
        except BaseException:
            await self.server.close()
            self.writer.stop()
            raise
        r = self.cfg.rules
        self.ticker.every(r.household_poll_seconds, "household", self.refresh_household)
        self.ticker.every(r.neighbour_refresh_seconds, "neighbours", self.refresh_neighbours)
        self.ticker.every(5.0, "compiled lists", self.refresh_lists)
        self.ticker.every(INDEX_CHECK_SECONDS, "index check", self.check_index)
        self.ticker.every(stats.EVERY_SECONDS, "counters for /metrics", self.write_stats)
        self.ticker.every(native.TRIM_SECONDS, "freed memory back", native.trim_heap)
        if self.spawn_jobs:
            self.ticker.every(2.0, "jobs process", self.look_after_jobs)
        if self.dhcp is not None:
            self.ticker.every(2.0, "DHCP (dnsmasq)", self.dhcp.look_after)
        self.ticker.start()
        where = ", ".join(f"{h}:{p}" for h, p in self.server.addresses)
        index = self.holder.current.index
        log.info(
            "HouseRules DNS answering on %s (UDP and TCP); %d listed names (%s); %s",
            where,
            len(index),
            index.engine,
            native.describe(),
        )
        try:
            await stop.wait()
        finally:
            self.ticker.stop()
            self._stop_jobs()
            if self.dhcp is not None:
                self.dhcp.stop()
            await self.server.close()
            self.writer.stop()
            self.household.close()
            written, dropped = self.writer.written, self.writer.dropped
            log.info("stopped; %d query-log rows written, %d dropped", written, dropped)


class Ticker(threading.Thread):
    """Runs small jobs at intervals on one thread; a failing job is logged, never fatal."""

    def __init__(self) -> None:
        super().__init__(name="ticker", daemon=True)
        self._jobs: list[list] = []  # [next due, every, name, fn]
        self._halt = threading.Event()

    def every(self, seconds: float, name: str, fn: Callable[[], object]) -> None:
        self._jobs.append([time.monotonic(), max(seconds, 0.1), name, fn])

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive():
            self.join(10)

    def run(self) -> None:
        while not self._halt.is_set():
            now = time.monotonic()
            for job in self._jobs:
                if job[0] <= now:
                    job[0] = now + job[1]
                    try:
                        job[3]()
                    except Exception as exc:
                        log.error("%s failed: %s", job[2], exc)
            due = min((job[0] for job in self._jobs), default=now + 1.0)
            self._halt.wait(max(0.05, due - time.monotonic()))


def main(argv: list[str] | None = None, cfg: Config | None = None) -> int:
    """The DNS process's own entry point (`python -m agent.ops.runner`), which `houserules run`
    becomes with exec: a fresh interpreter that loads only what answering DNS needs. `cfg`:
    the config `argv` names, already read (by `agent.ops.lean`)."""
    import argparse

    from agent import config as config_mod
    from agent import config_checks

    parser = argparse.ArgumentParser(prog="houserules run")
    parser.add_argument("--config", metavar="FILE")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.INFO
    logsafe.install()  # a name a device sent may be logged: one escaped line, always
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if cfg is None:
        try:
            cfg = config_mod.load(config_mod.find_config(args.config))
        except config_mod.ConfigError as exc:
            print(f"houserules: bad config: {exc}", file=sys.stderr)
            return 2
    for line in config_checks.warnings(cfg):
        log.warning("%s: %s", cfg.source, line)
    return run(cfg)


# Python's cycle collector runs after every 700 new container objects; a DNS answer makes a
# dozen short-lived ones (none in cycles), so by default it would run every ~60 queries and,
# now and then, walk everything loaded. Everything loaded before serving is frozen out of its
# walks, and it runs a hundred times less often (bench: 13% less time per blocked answer).
GC_THRESHOLDS = (70_000, 50, 100)


def _quiet_collector() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run(cfg: Config) -> int:
    agent = Agent(cfg)
    _quiet_collector()
    native.answers_first()  # this thread runs the event loop that answers

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await agent.serve(stop)

    try:
        try:
            import uvloop
        except ImportError:
            asyncio.run(main())
        else:
            uvloop.run(main())
    except ListenError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
