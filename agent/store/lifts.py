"""Schedules lifted for a while: "more time" approved for a child's request.

Re-exported by `agent.store.requests`; import from there. The schedules that are on at any
moment of the extra time are copied into the request's row (`lifted`, `lift_until`) and taken
out of the household; `restore_lifted` puts them back, as they were, once the time is up. The
copy is written before the schedules go, so a crash in between leaves a copy to put back, never
a schedule that is gone for good. Putting back is claimed row by row (`restored`), so two
threads or processes never put the same schedule back twice.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from agent.rules.household import Schedule
from agent.store import household as store

log = logging.getLogger(__name__)


def lift_schedules(
    engine: Engine, request_id: int, child_id: int, start: datetime, until: datetime
) -> list[Schedule]:
    """Take out the child's schedules that are on at any moment from `start` to `until`
    (local times), keeping copies in request `request_id`; returns the ones taken out."""
    on = [s for s in store.list_schedules(engine, child_id) if _on_during(s, start, until)]
    if on:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE child_requests SET lifted = :l, lift_until = :u WHERE id = :id"),
                {
                    "l": json.dumps([_saved(s) for s in on]),
                    "u": until.timestamp(),
                    "id": request_id,
                },
            )
        for s in on:
            store.remove_schedule(engine, s.id)
    return on


def restore_lifted(engine: Engine, when: datetime) -> int:
    """Put back the schedules whose extra time is over; returns how many went back."""
    with engine.connect() as conn:
        due = conn.execute(
            text(
                "SELECT id FROM child_requests WHERE lift_until IS NOT NULL AND "
                "lift_until <= :now AND restored = 0"
            ),
            {"now": when.timestamp()},
        ).all()
    return sum(_restore(engine, row.id) for row in due)


def end_lift(engine: Engine, request_id: int, when: datetime) -> int:
    """Put a request's lifted schedules back now (a parent changed their mind)."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE child_requests SET lift_until = :u WHERE id = :id AND lift_until > :u"),
            {"u": when.timestamp(), "id": request_id},
        )
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
    with engine.begin() as conn:
        claimed = conn.execute(
            text("UPDATE child_requests SET restored = 1 WHERE id = :id AND restored = 0"),
            {"id": request_id},
        )
        if not claimed.rowcount:
            return 0  # another thread got there first
        row = conn.execute(
            text("SELECT child_id, lifted FROM child_requests WHERE id = :id"), {"id": request_id}
        ).one()
    back = 0
    for s in json.loads(row.lifted or "[]"):
        try:
            store.add_schedule(
                engine,
                row.child_id,
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
