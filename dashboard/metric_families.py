"""The box's numbers as Prometheus metric families, for `/metrics` (`dashboard.metrics`).

Kept apart from the route so prometheus_client loads on the first scrape, not with every page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from agent.config import Config
from agent.lists.status import index_counts, list_ages
from agent.ops.stats import read_stats, stats_path

NAMESPACE = "houserules"


class BoxCollector:
    def __init__(self, cfg: Config, now: float) -> None:
        self.cfg, self.now = cfg, now

    def collect(self) -> Iterator[Metric]:
        stats = read_stats(stats_path(self.cfg))
        yield _gauge("dns_stats_available", "1 when the DNS process's counters could be read",
                     1 if stats else 0)  # fmt: skip
        if stats:
            yield from _dns(stats, self.now)
        yield from self._lists()

    def _lists(self) -> Iterator[Metric]:
        sizes = GaugeMetricFamily(
            f"{NAMESPACE}_list_names", "Names each blocklist holds in the index", labels=["list"]
        )
        for name, count in sorted(index_counts(self.cfg).items()):
            sizes.add_metric([name], count)
        yield sizes
        ages = GaugeMetricFamily(
            f"{NAMESPACE}_list_age_seconds",
            "Seconds since each list's current copy arrived",
            labels=["list"],
        )
        for name, when in sorted(list_ages(self.cfg).items()):
            ages.add_metric([name], max(0.0, self.now - when.timestamp()))
        yield ages


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{NAMESPACE}_{name}", doc, value=value)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(f"{NAMESPACE}_{name}", doc, value=value)


def _dns(stats: dict[str, Any], now: float) -> Iterator[Metric]:
    q = stats.get("queries", {})
    blocked = q.get("blocked", {})
    outcomes = CounterMetricFamily(
        f"{NAMESPACE}_dns_queries",
        "DNS queries by outcome (answered, blocked, refused, rate_limited, servfail, malformed)",
        labels=["outcome"],
    )
    answered = q.get("cache", 0) + q.get("upstream", 0) + q.get("stale", 0)
    outcomes.add_metric(["answered"], answered)
    outcomes.add_metric(["blocked"], sum(blocked.values()))
    for outcome in ("refused", "rate_limited", "servfail", "malformed"):
        outcomes.add_metric([outcome], q.get(outcome, 0))
    yield outcomes
    by_reason = CounterMetricFamily(
        f"{NAMESPACE}_dns_blocked",
        "Blocked queries by the kind of rule that blocked them",
        labels=["reason"],
    )
    for kind, n in sorted(blocked.items()):
        by_reason.add_metric([kind], n)
    yield by_reason
    sources = CounterMetricFamily(
        f"{NAMESPACE}_dns_answers",
        "Answered queries by where the answer came from",
        labels=["source"],
    )
    for source in ("cache", "upstream", "stale"):
        sources.add_metric([source], q.get(source, 0))
    yield sources
    cache = stats.get("cache", {})
    yield _counter("dns_cache_hits", "Answers found in the cache (or reused within a second)",
                   q.get("cache", 0))  # fmt: skip
    yield _counter("dns_cache_misses", "Cache look-ups that found nothing", cache.get("misses", 0))
    yield _gauge("dns_cache_entries", "Answers held in the cache", cache.get("entries", 0))
    yield from _upstreams(stats.get("upstreams", []))
    log = stats.get("querylog", {})
    yield _counter("querylog_rows_written", "Query-log rows written", log.get("written", 0))
    yield _counter("querylog_rows_dropped", "Query-log rows dropped", log.get("dropped", 0))
    yield _counter("querylog_rows_rejected", "Query-log rows the database refused (malformed)",
                   log.get("rejected", 0))  # fmt: skip
    yield _gauge("querylog_rows_on_disk", "Query-log rows kept on disk for the database",
                 log.get("kept", 0))  # fmt: skip
    yield _counter("querylog_rows_recovered", "Query-log rows an earlier run kept on disk, "
                   "written since", log.get("recovered", 0))  # fmt: skip
    if stats.get("household_version") is not None:
        yield _gauge("household_version", "The household's version (moves with every change)",
                     stats["household_version"])  # fmt: skip
    household = stats.get("household") or {}
    if household:
        yield _gauge("household_database_readable",
                     "1 while the DNS process can read the household from the database",
                     0 if household.get("problem") else 1)  # fmt: skip
        yield _gauge("household_from_copy",
                     "1 while the DNS process uses the copy of the house rules kept on its disk",
                     1 if household.get("read_from") == "copy" else 0)  # fmt: skip
    yield _counter("dns_process_starts", "Times the DNS process has started", stats["starts"])
    yield _counter("jobs_process_restarts", "Times the jobs process was started again",
                   stats.get("jobs_restarts", 0))  # fmt: skip
    yield _gauge("dns_started_timestamp_seconds", "When the DNS process started",
                 stats.get("started", 0))  # fmt: skip
    yield _gauge("dns_stats_age_seconds", "Seconds since the DNS process wrote its counters",
                 max(0.0, now - stats.get("written_at", now)))  # fmt: skip


def _upstreams(servers: list[dict[str, Any]]) -> Iterator[Metric]:
    up = GaugeMetricFamily(
        f"{NAMESPACE}_upstream_up", "1 while an upstream server answers", labels=["server"]
    )
    latency = SummaryMetricFamily(
        f"{NAMESPACE}_upstream_latency_seconds",
        "Time each upstream server took for the answers it gave",
        labels=["server"],
    )
    failures = CounterMetricFamily(
        f"{NAMESPACE}_upstream_failures",
        "Upstream failures by kind (timeout, error)",
        labels=["server", "kind"],
    )
    for s in servers:
        up.add_metric([s["server"]], 1 if s.get("up") else 0)
        latency.add_metric([s["server"]], s.get("answered", 0), s.get("seconds", 0.0))
        failures.add_metric([s["server"], "timeout"], s.get("timeouts", 0))
        failures.add_metric([s["server"], "error"], s.get("errors", 0))
    yield from (up, latency, failures)
