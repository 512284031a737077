"""The insights job's writes to the activity tables (see `rollup_tables`), plus pruning, export
and forgetting. Every function takes the job's open connection, so a batch's rollups commit
together with its cursor move, or not at all.

Counts only ever grow here: a row adds queries, and (by the activity rule, see
`agent.insights.activity`) more queries can only make more minutes count, never fewer. That is
what lets the job apply each batch as a delta.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from agent.store.dialect import driver_sql, larger, smaller
from agent.store.rollup_tables import DETAIL_TABLES, ROLLUP_TABLES

MarkKey = tuple[str, str, str, str]  # device, child, kind, name
UsageKey = tuple[str, str, int, str, str]  # child, day, hour, kind, name
HourKey = tuple[str, str, int]  # child, day, hour


def add_marks(conn: Connection, deltas: Mapping[tuple[MarkKey, int], list[int]]) -> None:
    """Add (queries, blocked) to each (device, child, kind, name) and minute."""
    params = [(d, c, k, n, m, q, b) for ((d, c, k, n), m), (q, b) in deltas.items()]
    if params:
        driver_sql(
            conn,
            "INSERT INTO activity_marks (device, child, kind, name, minute, queries, blocked) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device, child, kind, name, minute) "
            f"DO UPDATE SET {_bump('activity_marks', 'queries', 'blocked')}",
            params,
        )


def load_marks(conn: Connection, key: MarkKey, lo: int, hi: int) -> dict[int, tuple[int, int]]:
    """Minute -> (queries, blocked) for one device, child and app or site, lo..hi inclusive."""
    rows = driver_sql(
        conn,
        "SELECT minute, queries, blocked FROM activity_marks WHERE device = ? AND child = ? "
        "AND kind = ? AND name = ? AND minute BETWEEN ? AND ?",
        (*key, lo, hi),
    ).all()
    return {m: (q, b) for m, q, b in rows}


def add_counted(conn: Connection, child: str, kind: str, name: str, minutes: set[int]) -> set[int]:
    """Count these minutes for the child's app or site; returns the ones not counted before
    (another device of the same child may have counted some already)."""
    where = "child = ? AND kind = ? AND name = ?"
    return _add_new(
        conn, "counted_minutes", "child, kind, name", where, (child, kind, name), minutes
    )


def add_active(conn: Connection, child: str, minutes: set[int]) -> set[int]:
    """Count these minutes as the child's active time; returns the ones that are new."""
    return _add_new(conn, "active_minutes", "child", "child = ?", (child,), minutes)


def _add_new(
    conn: Connection,
    table: str,
    columns: str,
    where: str,
    key: tuple[str, ...],
    minutes: set[int],
) -> set[int]:
    if not minutes:
        return set()
    found = driver_sql(
        conn,
        f"SELECT minute FROM {table} WHERE {where} AND minute BETWEEN ? AND ?",
        (*key, min(minutes), max(minutes)),
    ).all()
    new = minutes - {m for (m,) in found}
    if new:
        marks = ", ".join("?" * (len(key) + 1))
        driver_sql(
            conn,
            f"INSERT INTO {table} ({columns}, minute) VALUES ({marks})",
            [(*key, m) for m in sorted(new)],
        )
    return new


_TOTALS = ("minutes", "queries", "blocked")


def _bump(table: str, *columns: str) -> str:
    """SET clauses that add the new row's counts to the stored ones (the stored column named
    with its table: PostgreSQL asks for that where `excluded` is in reach too)."""
    return ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in columns)


def _either(conn: Connection, pick: Callable[[Connection, str, str], str], column: str) -> str:
    """The stored or the new value, whichever `pick` prefers; the other when one is NULL."""
    stored, new = f"child_daily.{column}", f"excluded.{column}"
    return f"coalesce({pick(conn, stored, new)}, {stored}, {new})"


def add_usage(conn: Connection, deltas: Mapping[UsageKey, list[int]]) -> None:
    """Add (minutes, queries, blocked) per child, day, hour and app or site, to the hourly and
    the daily rollup."""
    daily: dict[tuple[str, str, str, str], list[int]] = {}
    hourly = []
    for (c, day, hour, k, n), (minutes, queries, blocked) in deltas.items():
        hourly.append((c, day, hour, k, n, minutes, queries, blocked))
        total = daily.setdefault((c, day, k, n), [0, 0, 0])
        total[0] += minutes
        total[1] += queries
        total[2] += blocked
    if hourly:
        driver_sql(
            conn,
            "INSERT INTO usage_hourly (child, day, hour, kind, name, minutes, queries, blocked) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (child, day, hour, kind, name) DO UPDATE "
            f"SET {_bump('usage_hourly', *_TOTALS)}",
            hourly,
        )
        driver_sql(
            conn,
            "INSERT INTO usage_daily (child, day, kind, name, minutes, queries, blocked) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (child, day, kind, name) DO UPDATE "
            f"SET {_bump('usage_daily', *_TOTALS)}",
            [(*key, m, q, b) for key, (m, q, b) in daily.items()],
        )


def add_child_totals(
    conn: Connection,
    deltas: Mapping[HourKey, list[int]],
    spans: Mapping[tuple[str, str], tuple[int, int]],
) -> None:
    """Add (minutes, queries, blocked) per child, day and hour; widen each child-day's first and
    last active minute to include `spans[(child, day)]`."""
    daily: dict[tuple[str, str], list[int]] = {}
    hourly = []
    for (c, day, hour), (m, q, b) in deltas.items():
        hourly.append((c, day, hour, m, q, b))
        total = daily.setdefault((c, day), [0, 0, 0])
        total[0] += m
        total[1] += q
        total[2] += b
    if not hourly:
        return
    driver_sql(
        conn,
        "INSERT INTO child_hourly (child, day, hour, minutes, queries, blocked) VALUES "
        "(?, ?, ?, ?, ?, ?) ON CONFLICT (child, day, hour) DO UPDATE "
        f"SET {_bump('child_hourly', *_TOTALS)}",
        hourly,
    )
    params = [
        (c, day, m, q, b, *spans.get((c, day), (None, None)))
        for (c, day), (m, q, b) in daily.items()
    ]
    driver_sql(
        conn,
        "INSERT INTO child_daily (child, day, minutes, queries, blocked, first_minute, "
        "last_minute) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (child, day) DO UPDATE SET "
        f"{_bump('child_daily', *_TOTALS)}, "
        f"first_minute = {_either(conn, smaller, 'first_minute')}, "
        f"last_minute = {_either(conn, larger, 'last_minute')}",
        params,
    )


def add_blocked(conn: Connection, deltas: Mapping[tuple[str, str, str], int]) -> None:
    """Add blocked counts per child, day and rule."""
    params = [(c, d, r, n) for (c, d, r), n in deltas.items()]
    if params:
        driver_sql(
            conn,
            "INSERT INTO blocked_daily (child, day, rule, count) VALUES (?, ?, ?, ?) "
            f"ON CONFLICT (child, day, rule) DO UPDATE SET {_bump('blocked_daily', 'count')}",
            params,
        )


# Retention, export, forgetting -------------------------------------------------------------


def prune_detail(conn: Connection, before_minute: int) -> int:
    """Delete minute-level detail older than `before_minute`; returns how many rows."""
    return sum(
        conn.execute(text(f"DELETE FROM {t} WHERE minute < :m"), {"m": before_minute}).rowcount
        for t in DETAIL_TABLES
    )


def prune_rollups(conn: Connection, before_day: str) -> int:
    """Delete rollups for days before `before_day` ("YYYY-MM-DD"); returns how many rows."""
    return sum(
        conn.execute(text(f"DELETE FROM {t} WHERE day < :d"), {"d": before_day}).rowcount
        for t in ROLLUP_TABLES
    )


def forget_child(conn: Connection, child: str) -> int:
    """Delete every activity row about `child`; returns how many."""
    return sum(
        conn.execute(text(f"DELETE FROM {t} WHERE child = :c"), {"c": child}).rowcount
        for t in (*DETAIL_TABLES, *ROLLUP_TABLES)
    )


def rollups_for_export(engine: Engine, child: str) -> dict[str, list[dict[str, Any]]]:
    """A child's rollups as JSON-ready rows, one list per table."""
    order = {
        "child_daily": "day",
        "child_hourly": "day, hour",
        "usage_daily": "day, kind, name",
        "usage_hourly": "day, hour, kind, name",
        "blocked_daily": "day, rule",
    }
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table, by in order.items():
            rows = conn.execute(
                text(f"SELECT * FROM {table} WHERE child = :c ORDER BY {by}"), {"c": child}
            ).all()
            out[table] = [{k: v for k, v in r._mapping.items() if k != "child"} for r in rows]
    return out
