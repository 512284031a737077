"""Turning a batch's new query minutes into newly counted active minutes, and what follows
from them: minutes in the rollups, first uses and late nights.

For each device, child and app or site the batch touched, the marks around the new minutes
are read back (`activity.window`), and the activity rule is applied before and after the batch
(`activity.newly_counted`). Minutes newly counted for a device are then added to the child's
app or site and to the child's active time: a minute counts once per child even when two
devices, or two apps, were busy in it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from sqlalchemy.engine import Connection

from agent.insights import activity, detect
from agent.insights.detect import Context
from agent.insights.things import LocalClock
from agent.store import insight_state, rollup_writes
from agent.store.events import KeyedEvent
from agent.store.rollup_writes import HourKey, MarkKey, UsageKey


def apply_minutes(
    conn: Connection,
    marks: Mapping[tuple[MarkKey, int], list[int]],
    clock: LocalClock,
    ctx: Context,
    usage: dict[UsageKey, list[int]],
    hours: dict[HourKey, list[int]],
) -> tuple[list[KeyedEvent], dict[tuple[str, str], tuple[int, int]]]:
    """Add newly counted minutes into `usage` and `hours` (index 0); returns the first-use and
    late-night events, and each child-day's span of newly active minutes."""
    per_key: dict[MarkKey, dict[int, list[int]]] = defaultdict(dict)
    for (key, minute), delta in marks.items():
        per_key[key][minute] = delta
    # (child, kind, name) -> minute -> the device that made it count (the first one seen)
    counted: dict[tuple[str, str, str], dict[int, str]] = defaultdict(dict)
    events: list[KeyedEvent] = []
    for key, delta in per_key.items():
        used, any_new, blocked_only = _judge(conn, key, delta)
        dev, child, kind, name = key
        by_minute = counted[(child, kind, name)]
        for minute in used:
            by_minute.setdefault(minute, dev)
        if any_new:
            events += detect.late_night(child, dev, any_new, f"{kind}:{name}", blocked_only, ctx)
    active: dict[str, set[int]] = defaultdict(set)
    firsts: dict[tuple[str, str, str], tuple[float, float, str]] = {}
    for (child, kind, name), by_minute in counted.items():
        new = rollup_writes.add_counted(conn, child, kind, name, set(by_minute))
        for minute in new:
            day, hour = clock.at(minute)
            usage.setdefault((child, day, hour, kind, name), [0, 0, 0])[0] += 1
        if new:
            active[child] |= new
            first = min(new)
            firsts[(child, kind, name)] = (first * 60.0, max(new) * 60.0, by_minute[first])
    events += _first_uses(conn, firsts, ctx)
    return events, _add_active(conn, active, clock, hours)


def _judge(
    conn: Connection, key: MarkKey, delta: Mapping[int, list[int]]
) -> tuple[set[int], set[int], bool]:
    """(minutes newly counted from answered queries, minutes newly counted from any queries,
    whether the latter were all blocked) for one device, child and app or site."""
    lo, hi = activity.window(min(delta), max(delta))
    marks = rollup_writes.load_marks(conn, key, lo, hi)
    answered_after = {m for m, (q, _b) in marks.items() if q > 0}
    any_after = set(marks)
    answered_before, any_before = set(), set()
    for m, (q, b) in marks.items():
        dq, db = delta.get(m, (0, 0))
        if q - dq > 0:
            answered_before.add(m)
        if q + b - dq - db > 0:
            any_before.add(m)
    used = activity.newly_counted(answered_before, answered_after - answered_before)
    any_new = activity.newly_counted(any_before, any_after - any_before)
    blocked_only = not any(marks.get(m, (0, 0))[0] for m in any_new)
    return used, any_new, blocked_only


def _first_uses(
    conn: Connection, firsts: dict[tuple[str, str, str], tuple[float, float, str]], ctx: Context
) -> list[KeyedEvent]:
    if not firsts:
        return []
    known = insight_state.known_firsts(conn, firsts)
    events = []
    for (child, kind, name), (first, _last, dev) in sorted(firsts.items()):
        if (child, kind, name) not in known:
            found = detect.first_use(child, dev, kind, name, int(first // 60), ctx)
            if found is not None:
                events.append(found)
    insight_state.touch_firsts(conn, {k: (f, last) for k, (f, last, _d) in firsts.items()})
    return events


def _add_active(
    conn: Connection,
    active: dict[str, set[int]],
    clock: LocalClock,
    hours: dict[HourKey, list[int]],
) -> dict[tuple[str, str], tuple[int, int]]:
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    for child, minutes in active.items():
        for minute in rollup_writes.add_active(conn, child, minutes):
            day, hour = clock.at(minute)
            hours.setdefault((child, day, hour), [0, 0, 0])[0] += 1
            lo, hi = spans.get((child, day), (minute, minute))
            spans[(child, day)] = (min(lo, minute), max(hi, minute))
    return spans
