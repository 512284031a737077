"""Retention: minute-level detail after retention_days, events and rollups after history_days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from agent.config import StoreConfig
from agent.events import Event, EventKind, Severity
from agent.insights.retention import prune
from agent.store import events, insight_state, rollup_writes, rollups
from agent.store.db import init_db, make_engine
from agent.store.events import KeyedEvent

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def test_prune_follows_both_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    init_db(engine)
    days_ago = (1, 40, 364, 366)
    with insight_state.immediate(engine) as conn:
        for n in days_ago:
            day = (NOW - timedelta(days=n)).date()
            m = int((NOW - timedelta(days=n)).timestamp() // 60)
            rollup_writes.add_active(conn, "Sam", {m})
            rollup_writes.add_child_totals(conn, {("Sam", day.isoformat(), 3): [1, 1, 0]}, {})
            insight_state.touch_firsts(
                conn, {("Sam", "site", f"s{n}.example"): (m * 60.0, m * 60.0)}
            )
    events.record_events(
        engine,
        [
            KeyedEvent(
                Event(NOW - timedelta(days=n), EventKind.FIRST_APP, Severity.INFO, "Sam"), f"e{n}"
            )
            for n in days_ago
        ],
    )
    report = prune(engine, StoreConfig(retention_days=30, history_days=365), NOW, "Europe/London")
    assert (report.detail, report.events, report.rollups, report.first_uses) == (
        3,
        1,
        2,
        1,
    )  # rollups: hourly + daily
    series = rollups.activity_series(engine, "Sam", date(2025, 11, 20), 370)
    assert sum(d.minutes for d in series) == 3
    assert len(events.list_events(engine)) == 3
    again = prune(engine, StoreConfig(retention_days=30, history_days=365), NOW, "Europe/London")
    assert again == type(report)(0, 0, 0, 0)
