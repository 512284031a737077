"""Retention for what insights keeps, run daily beside the query log's own pruning.

- Minute-level detail (activity marks, counted and active minutes) is as fine as the raw query
  log, so it follows `store.retention_days` (default 30).
- Events, rollups (hourly and daily) and the list of apps and sites each child has used follow
  `store.history_days` (default 365): a year of summaries, no raw browsing history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from agent.config import StoreConfig
from agent.store import events, insight_state, rollup_writes


@dataclass(frozen=True)
class PruneReport:
    events: int
    rollups: int
    detail: int
    first_uses: int


def prune_history(engine: Engine, before: datetime) -> tuple[int, int, int]:
    """Delete events, rollups and first-use records older than `before` (timezone-aware; its
    date in its own timezone is the first day kept). Returns (events, rollup rows, firsts)."""
    removed_events = events.prune_events(engine, before)
    with insight_state.immediate(engine) as conn:
        rollups = rollup_writes.prune_rollups(conn, before.date().isoformat())
        firsts = insight_state.prune_firsts(conn, before.timestamp())
    return removed_events, rollups, firsts


def prune_detail(engine: Engine, before: datetime) -> int:
    """Delete minute-level activity detail older than `before`."""
    with insight_state.immediate(engine) as conn:
        return rollup_writes.prune_detail(conn, int(before.timestamp() // 60))


def prune(engine: Engine, store: StoreConfig, now: datetime, timezone: str) -> PruneReport:
    """The daily job: detail after `retention_days`, history after `history_days`."""
    local = now.astimezone(ZoneInfo(timezone))
    detail = prune_detail(engine, local - timedelta(days=store.retention_days))
    kept_from = (local - timedelta(days=store.history_days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    removed_events, rollups, firsts = prune_history(engine, kept_from)
    return PruneReport(removed_events, rollups, detail, firsts)
