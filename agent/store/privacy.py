"""A child's data, all of it: export it as plain data, or delete it.

Everything the box records about a child's activity is keyed by the child's name: the query
log rows the rules engine attributed to them, events, rollups and what the insights job
remembers. The household settings (the child's entry, devices, rules, schedules) are not
activity data and stay; a parent changes those with the household commands.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from agent.store import contacts, events, insight_state, querylog, rollup_writes

_CHUNK = 20_000


def export_child(engine: Engine, child: str) -> dict[str, Any]:
    """Every record about `child`, as JSON-ready data."""
    return {
        "child": child,
        "events": events.events_for_export(engine, child),
        "rollups": rollup_writes.rollups_for_export(engine, child),
        "first_uses": insight_state.firsts_for_export(engine, child),
        "contacts": contacts.contacts_for_export(engine, child),
        "query_log": querylog.child_rows(engine, child),
    }


def has_data(engine: Engine, child: str) -> bool:
    if querylog.has_child_rows(engine, child):
        return True
    with engine.connect() as conn:
        for table in ("events", "child_daily"):
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
    removed["query_log"] = querylog.forget_child_rows(engine, child, _CHUNK, pause)
    return removed
