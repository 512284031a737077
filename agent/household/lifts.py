"""Schedules lifted for a while: "more time" approved for a child's request.

The schedules that are on at any moment of the extra time are copied into the request's row
and taken out of the household; `restore_lifted` (a job of the jobs process, every few seconds)
puts them back, as they were, once the time is up. The copy is written before the schedules
go, so a crash in between leaves a copy to put back, never a schedule that is gone for good.
Putting back is claimed request by request, so two threads or processes never put the same
schedule back twice. The SQL is `agent.store.requests`.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from agent.rules.household import Schedule
from agent.store import household as store
from agent.store import requests as rows

log = logging.getLogger(__name__)


def lift_schedules(
    engine: Engine, request_id: int, child_id: int, start: datetime, until: datetime
) -> list[Schedule]:
    """Take out the child's schedules that are on at any moment from `start` to `until`
    (local times), keeping copies in request `request_id`; returns the ones taken out."""
    on = [s for s in store.list_schedules(engine, child_id) if _on_during(s, start, until)]
    if on:
        rows.save_lifted(engine, request_id, [_saved(s) for s in on], until)
        for s in on:
            store.remove_schedule(engine, s.id)
    return on


def restore_lifted(engine: Engine, when: datetime) -> int:
    """Put back the schedules whose extra time is over; returns how many went back."""
    return sum(_restore(engine, request_id) for request_id in rows.due_lifts(engine, when))


def end_lift(engine: Engine, request_id: int, when: datetime) -> int:
    """Put a request's lifted schedules back now (a parent changed their mind)."""
    rows.shorten_lift(engine, request_id, when)
    return restore_lifted(engine, when)


def _on_during(schedule: Schedule, start: datetime, end: datetime) -> bool:
    moment = start
    while moment < end:
        if schedule.covers(moment.weekday(), moment.time()):
            return True
        moment += timedelta(minutes=1)
    return False


def _saved(s: Schedule) -> dict[str, Any]:
    return {
        "name": s.name,
        "days": sorted(s.days),
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "block_all": s.block_all,
        "block": sorted(s.block),
        "allow": list(s.allow),
    }


def _restore(engine: Engine, request_id: int) -> int:
    claimed = rows.claim_restore(engine, request_id)
    if claimed is None:
        return 0  # another thread got there first
    child_id, saved = claimed
    back = 0
    for s in saved:
        try:
            store.add_schedule(
                engine,
                child_id,
                s["name"],
                s["days"],
                time.fromisoformat(s["start"]),
                time.fromisoformat(s["end"]),
                block_all=s["block_all"],
                block=s["block"],
                allow=s["allow"],
            )
            back += 1
        except store.HouseholdError as exc:  # a parent's newer schedule of that name stands
            log.info("schedule %r not put back: %s", s["name"], exc)
    return back
