"""A from-scratch, non-incremental computation of the activity rollups, for tests to compare
the insights job's incremental tables against. Deliberately simple: all rows at once, plain
dicts, the activity rule applied to whole series."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, tzinfo
from typing import Any

from agent.insights.activity import counted
from agent.insights.things import Classifier
from agent.rules.catalog import Catalog
from agent.store.querylog import LogEntry


def rollups(rows: list[LogEntry], catalog: Catalog, tz: tzinfo) -> dict[str, set[tuple[Any, ...]]]:
    """The rows each rollup table should hold (as sets of tuples, zero rows left out)."""
    classify = Classifier(catalog)
    minutes: dict[tuple[str, str, str, str], set[int]] = defaultdict(set)  # answered
    counts: dict[str, dict[tuple[Any, ...], list[int]]] = defaultdict(
        lambda: defaultdict(lambda: [0, 0, 0])
    )
    blocked: dict[tuple[str, str, str], int] = defaultdict(int)

    def local(minute: int) -> tuple[str, int]:
        moment = datetime.fromtimestamp(minute * 60, tz)
        return moment.date().isoformat(), moment.hour

    for r in rows:
        if r.child is None:
            continue
        minute = int(r.ts // 60)
        day, hour = local(minute)
        is_blocked = r.action == "block"
        counts["child_hourly"][(r.child, day, hour)][2 if is_blocked else 1] += 1
        if is_blocked:
            blocked[(r.child, day, r.rule)] += 1
        thing = classify.thing(r.name, r.app)
        if thing is None:
            continue
        counts["usage_hourly"][(r.child, day, hour, *thing)][2 if is_blocked else 1] += 1
        if not is_blocked:
            minutes[(r.device or r.client, r.child, *thing)].add(minute)
    per_thing: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for (_dev, child, kind, name), query_minutes in minutes.items():
        per_thing[(child, kind, name)] |= counted(query_minutes)
    per_child: dict[str, set[int]] = defaultdict(set)
    for (child, kind, name), used in per_thing.items():
        per_child[child] |= used
        for m in used:
            day, hour = local(m)
            counts["usage_hourly"][(child, day, hour, kind, name)][0] += 1
    for child, used in per_child.items():
        for m in used:
            day, hour = local(m)
            counts["child_hourly"][(child, day, hour)][0] += 1
    return _tables(counts, blocked, per_child, local)


def _tables(counts, blocked, per_child, local) -> dict[str, set[tuple[Any, ...]]]:
    out: dict[str, set[tuple[Any, ...]]] = {}
    out["usage_hourly"] = {(*k, *v) for k, v in counts["usage_hourly"].items()}
    out["child_hourly"] = {(*k, *v) for k, v in counts["child_hourly"].items()}
    daily: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (child, day, _hour, kind, name), v in counts["usage_hourly"].items():
        for i in range(3):
            daily[(child, day, kind, name)][i] += v[i]
    out["usage_daily"] = {(*k, *v) for k, v in daily.items()}
    totals: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, 0, None, None])
    for (child, day, _hour), v in counts["child_hourly"].items():
        for i in range(3):
            totals[(child, day)][i] += v[i]
    for child, used in per_child.items():
        for m in used:
            t = totals[(child, local(m)[0])]
            t[3] = m if t[3] is None else min(t[3], m)
            t[4] = m if t[4] is None else max(t[4], m)
    out["child_daily"] = {(*k, *v) for k, v in totals.items()}
    out["blocked_daily"] = {(*k, v) for k, v in blocked.items()}
    return out


COLUMNS = {
    "usage_hourly": "child, day, hour, kind, name, minutes, queries, blocked",
    "child_hourly": "child, day, hour, minutes, queries, blocked",
    "usage_daily": "child, day, kind, name, minutes, queries, blocked",
    "child_daily": "child, day, minutes, queries, blocked, first_minute, last_minute",
    "blocked_daily": "child, day, rule, count",
}


def stored(engine) -> dict[str, set[tuple[Any, ...]]]:
    """The same tables as the job stored them."""
    out = {}
    with engine.connect() as conn:
        for table, columns in COLUMNS.items():
            rows = conn.exec_driver_sql(f"SELECT {columns} FROM {table}").all()
            out[table] = {tuple(r) for r in rows}
    return out
