"""Temporary changes on top of the house rules, as data with an end: the pure part.

A pause, "more time" on a schedule, a timed unblock: each is a row with an `until` that lands in
the household snapshot; `decide()` reads it while `now < until` and ignores it after. Nothing
here touches the database (that is `agent.store.overlays`) and nothing reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from agent.rules.household import Overlay, Schedule

# What a parent can give when approving an "unblock" request; None = for good (a house rule).
UNBLOCK_CHOICES: dict[str, str] = {
    "15m": "for 15 minutes",
    "1h": "for an hour",
    "today": "for today",
    "always": "always",
}
_LENGTHS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1)}
# How long a parent's one-tap pause lasts: minutes, or until the next morning.
PAUSE_CHOICES: dict[str, str] = {
    "30": "for 30 minutes",
    "60": "for an hour",
    "120": "for two hours",
    "morning": "until 07:00",
}
MORNING = time(7, 0)


class OverlayError(ValueError):
    """A temporary change that cannot be made; the message is one line."""


def unblock_until(choice: str, now: datetime) -> datetime | None:
    """When an unblock given as `choice` ends (local `now`); None for "always"."""
    if choice == "always":
        return None
    if choice == "today":
        return end_of_day(now)
    if choice in _LENGTHS:
        return now + _LENGTHS[choice]
    raise OverlayError(f"an unblock is for {', '.join(UNBLOCK_CHOICES)}, not {choice!r}")


def pause_until(choice: str, now: datetime) -> datetime:
    """When a pause given as `choice` (one of PAUSE_CHOICES) ends, from local `now`."""
    if choice == "morning":
        day = now.date() + timedelta(days=1 if now.time() >= MORNING else 0)
        return datetime.combine(day, MORNING, now.tzinfo)
    if choice in PAUSE_CHOICES:
        return now + timedelta(minutes=int(choice))
    raise OverlayError(f"a pause is for {', '.join(PAUSE_CHOICES)}, not {choice!r}")


def next_at(clock_time: time, now: datetime) -> datetime:
    """The next `clock_time` after local `now`: today's, or tomorrow's if it has passed
    ("until 18:00" said at 19:00 means tomorrow)."""
    until = datetime.combine(now.date(), clock_time, now.tzinfo)
    return until if until > now else until + timedelta(days=1)


def end_of_day(now: datetime) -> datetime:
    """Midnight at the end of `now`'s local day (in `now`'s zone)."""
    tomorrow = now.date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), now.tzinfo)


def schedules_on_during(
    schedules: Iterable[Schedule], start: datetime, end: datetime
) -> list[Schedule]:
    """The schedules that are on at any minute from `start` to `end` (local times)."""
    out = []
    for s in schedules:
        moment = start
        while moment < end:
            if s.covers(moment.weekday(), moment.time()):
                out.append(s)
                break
            moment += timedelta(minutes=1)
    return out


def active(overlays: Iterable[Overlay], now: datetime) -> list[Overlay]:
    """The overlays still running at `now`, soonest to end first."""
    return sorted((o for o in overlays if now < o.until), key=lambda o: (o.until, o.id))


def held_off(overlays: Iterable[Overlay], now: datetime) -> frozenset[int]:
    """Ids of the schedules "more time" holds off at `now`."""
    return frozenset(
        o.schedule_id
        for o in overlays
        if o.kind == "more_time" and o.schedule_id is not None and now < o.until
    )


def time_left(until: datetime, now: datetime) -> str:
    """ "12 min left", "1 h 5 min left", "under a minute left"."""
    seconds = int((until - now).total_seconds())
    if seconds < 60:
        return "under a minute left" if seconds > 0 else "ended"
    minutes = -(-seconds // 60)  # round up: "15 min left" right after a 15-minute unblock
    hours, minutes = divmod(minutes, 60)
    if not hours:
        return f"{minutes} min left"
    return f"{hours} h {minutes} min left" if minutes else f"{hours} h left"


def describe(overlay: Overlay, schedule_names: dict[int, str], app_names: dict[str, str]) -> str:
    """What an overlay does, in a parent's words ("Bedtime is off", "TikTok is allowed")."""
    if overlay.kind == "more_time":
        name = schedule_names.get(overlay.schedule_id or 0, "A schedule that was removed")
        return f"More time: {name} is off"
    if overlay.kind == "extra_time":
        if overlay.minutes is None:
            return "No time limit today"
        return f"{overlay.minutes} more minutes today"
    target = overlay.target or ""
    title = app_names.get(target, target) if overlay.target_kind == "app" else target
    return f"{title} is allowed"
