"""A child's data, all of it: export it as plain data, or delete it.

Everything the box records about a child's activity is keyed by the child's name: the query
log rows the rules engine attributed to them, events, rollups and what the insights job
remembers. The household settings (the child's entry, devices, rules, schedules) are not
activity data and stay; a parent changes those with the household commands.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from agent.store import contacts, events, insight_state, rollup_writes
from agent.store.logwriter import LogEntry

# Every column of the one query-log row type but the child (the export is about them) and the
# upstream's latency (about the box, not the child).
QUERY_LOG_COLUMNS = ", ".join(f for f in LogEntry._fields if f not in ("child", "latency_ms"))
_CHUNK = 20_000


def export_child(engine: Engine, child: str) -> dict[str, Any]:
    """Every record about `child`, as JSON-ready data."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT {QUERY_LOG_COLUMNS} FROM query_log WHERE child = :c ORDER BY ts, id"),
            {"c": child},
        ).all()
    return {
        "child": child,
        "events": events.events_for_export(engine, child),
        "rollups": rollup_writes.rollups_for_export(engine, child),
        "first_uses": insight_state.firsts_for_export(engine, child),
        "contacts": contacts.contacts_for_export(engine, child),
        "query_log": [dict(r._mapping) for r in rows],
    }


def has_data(engine: Engine, child: str) -> bool:
    with engine.connect() as conn:
        for table in ("query_log", "events", "child_daily"):
            found = conn.execute(
                text(f"SELECT 1 FROM {table} WHERE child = :c LIMIT 1"), {"c": child}
            )
            if found.first() is not None:
                return True
    return False


def forget_child(engine: Engine, child: str, pause: float = 0.02) -> dict[str, int]:
    """Delete every record about `child`; returns how many rows went, by kind.

    The query log goes in chunks, each its own short transaction, so the query log writer is
    never held up for long."""
    removed = {"events": events.forget_child(engine, child)}
    removed["contacts"] = contacts.forget_child(engine, child)
    with insight_state.immediate(engine) as conn:
        removed["activity"] = rollup_writes.forget_child(conn, child)
        removed["insights_state"] = insight_state.forget_child(conn, child)
    delete = text(
        "DELETE FROM query_log WHERE id IN (SELECT id FROM query_log WHERE child = :c LIMIT :n)"
    )
    total = 0
    while True:
        with engine.begin() as conn:
            gone = conn.execute(delete, {"c": child, "n": _CHUNK}).rowcount
        total += gone
        if gone < _CHUNK:
            break
        time.sleep(pause)
    removed["query_log"] = total
    return removed
