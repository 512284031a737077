"""The DNS process's counters, handed to /metrics through a small file.

The DNS process already counts what it does (answers by where they came from, blocks by the
rule kind, refusals, upstream answers and failures, query-log rows). Every couple of seconds
its ticker thread copies those numbers into `dns-stats.json` in the data folder (written
beside and renamed over, so a reader never sees half a file); the dashboard's `/metrics` reads
that file. Nothing crosses between the processes per query, and the file costs one small write
every two seconds whatever the load.

The file also carries how often the DNS process has started (the count in the file it finds
at start, plus one), so a box that keeps restarting shows it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Config

if TYPE_CHECKING:
    from agent.ops.runner import Agent

STATS_FILE = "dns-stats.json"
EVERY_SECONDS = 2.0


def stats_path(cfg: Config) -> Path:
    """In the data folder (where the dashboard's key is kept), read by both processes."""
    return cfg.resolve(cfg.dashboard.secret_key_file).parent / STATS_FILE


def read_stats(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def previous_starts(path: Path) -> int:
    found = read_stats(path)
    starts = found.get("starts") if found else None
    return starts if isinstance(starts, int) and starts >= 0 else 0


def collect(agent: Agent, starts: int, started: float) -> dict[str, Any]:
    """The counters as they are now (cheap reads of ints; called from the ticker thread)."""
    r = agent.resolver
    guard = agent.server.guard
    household = agent.holder.current.household
    return {
        "pid": os.getpid(),
        "written_at": time.time(),
        "started": started,
        "starts": starts,
        "jobs_restarts": agent.jobs_restarts,
        "queries": {
            "cache": r.from_cache,
            "upstream": r.from_upstream,
            "stale": r.from_stale,
            "servfail": r.counters["servfail"],
            "refused": r.counters["refused"],
            "malformed": r.counters["malformed"],
            "rate_limited": guard.refused if guard is not None else 0,
            "blocked": {str(kind): n for kind, n in list(r.blocked.items())},
        },
        "cache": {
            "hits": r.cache.hits,
            "misses": r.cache.misses,
            "stale_served": r.cache.stale_served,
            "entries": len(r.cache),
        },
        "upstreams": [
            {
                "server": s.label,
                "up": not s.down,
                "answered": s.answered,
                "seconds": s.seconds,
                "timeouts": s.timeouts,
                "errors": s.errors,
            }
            for s in r.upstreams.servers
        ],
        "querylog": {
            "written": agent.writer.written,
            "dropped": agent.writer.dropped,
            "rejected": agent.writer.rejected,
            "kept": agent.writer.kept,
            "recovered": agent.writer.recovered,
        },
        "household_version": household.version if household is not None else None,
        # where the household in force came from ("database", "copy") and, while the
        # database cannot be read, why
        "household": agent.household.state,
    }


def write_stats(path: Path, data: dict[str, Any]) -> None:
    """Atomically: to a temporary name beside it, then renamed over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        temporary.write_text(json.dumps(data, separators=(",", ":")), "utf-8")
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
