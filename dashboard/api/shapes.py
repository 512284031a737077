"""The JSON shape of each thing the API returns (times ISO 8601 in the box's zone)."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from agent.rules.household import Child, Device, Household, Schedule
from agent.rules.now import now_for
from agent.rules.schedule_words import schedule_words
from agent.store.requests import ChildRequest
from dashboard import applies, child_page
from dashboard.box import Box


def when(moment: datetime | None, tz: tzinfo) -> str | None:
    return moment.astimezone(tz).isoformat() if moment is not None else None


def schedule(s: Schedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "child_id": s.child_id,
        "name": s.name,
        "days": sorted(s.days),
        "start": s.start.strftime("%H:%M"),
        "end": s.end.strftime("%H:%M"),
        "block_all": s.block_all,
        "block": sorted(s.block),
        "allow": list(s.allow),
        "words": schedule_words(s),
    }


def in_force(b: Box, household: Household, child: Child, now: datetime) -> dict[str, Any]:
    """The rules in force for a child now, as the Home page and the child's page say them."""
    state = now_for(household, child, now)
    bedtime = state.next_bedtime
    return {
        "internet_off": state.internet_off,
        "paused_until": when(state.paused_until, b.tz),
        "schedules_on": [{"id": s.id, "name": s.name} for s in state.schedules_on],
        "next_bedtime": (
            {"schedule": bedtime[0].name, "starts": when(bedtime[1], b.tz)} if bedtime else None
        ),
        "temporary_changes": [
            {"id": r.id, "words": r.words, "until": when(r.until, b.tz), "left": r.left}
            for r in child_page.running(b, household, child, now)
        ],
    }


def child(
    b: Box, household: Household, c: Child, now: datetime, *, apps: bool = False
) -> dict[str, Any]:
    rules = household.rules_for(c.id)
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "born": c.born.isoformat(),
        "age": c.age_on(now.date()),
        "settings": {
            "safe_search": c.settings.safe_search,
            "youtube_level": applies.youtube_level(c, c.age_on(now.date())),
            "protections_on": c.settings.protections_on,
        },
        "now": in_force(b, household, c, now),
        "rules": [
            {"id": r.id, "verb": r.verb, "kind": r.kind, "value": r.value}
            for r in household.rules
            if r.child_id == c.id
        ],
        "schedules": [schedule(s) for s in rules.schedules],
    }
    if apps:
        out["apps"] = [
            {
                "id": st.app.id,
                "name": st.app.name,
                "category": st.app.category,
                "blocked": st.blocked,
                "choice": st.choice,
                "why": applies.parent_reason(st),
            }
            for st in applies.app_statuses(b, household, c, now)
        ]
    return out


def device(d: Device, tz: tzinfo, paused_until: datetime | None = None) -> dict[str, Any]:
    return {
        "id": d.id,
        "label": d.label,
        "name": d.name,
        "mac": d.mac,
        "ip": d.ip,
        "owner": d.owner,
        "child_id": d.child_id,
        "shared_with": sorted(d.shared_with),
        "first_seen": when(d.first_seen, tz),
        "last_seen": when(d.last_seen, tz),
        "paused_until": when(paused_until, tz),
    }


def child_request(r: ChildRequest, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": r.id,
        "time": when(r.time, tz),
        "child_id": r.child_id,
        "child": r.child,
        "kind": r.kind,
        "device": r.device,
        "app": r.app,
        "site": r.site,
        "asked_minutes": r.asked_minutes,
        "message": r.message,
        "status": r.status,
        "decided_at": when(r.decided_at, tz),
        "minutes": r.minutes,
        "outcome": r.outcome,
    }
