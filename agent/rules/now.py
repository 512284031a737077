"""What applies to a child this minute: a pause, the schedules on, the next bedtime, and the
one line a parent reads about it (the Home page, the API, Home Assistant).

Pure: it reads a household snapshot and the time it is given, and decides nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.rules.household import Child, Household, Schedule
from agent.rules.overlays import held_off


@dataclass(frozen=True)
class Now:
    paused_until: datetime | None
    schedules_on: tuple[Schedule, ...]
    next_bedtime: tuple[Schedule, datetime] | None

    @property
    def internet_off(self) -> bool:
        return self.paused_until is not None or any(s.block_all for s in self.schedules_on)


def now_for(household: Household, child: Child, now: datetime) -> Now:
    rules = household.rules_for(child.id)
    paused = rules.paused_until if rules.paused_until and rules.paused_until > now else None
    off = held_off(rules.overlays, now)
    on = tuple(
        s for s in rules.schedules if s.id not in off and s.covers(now.weekday(), now.time())
    )
    return Now(paused, on, next_start(rules.schedules, now, block_all=True))


def next_start(
    schedules: tuple[Schedule, ...], now: datetime, *, block_all: bool
) -> tuple[Schedule, datetime] | None:
    """The next time one of the schedules switches on, within a week."""
    best: tuple[Schedule, datetime] | None = None
    for s in schedules:
        if block_all and not s.block_all:
            continue
        for ahead in range(8):
            day = now.date() + timedelta(days=ahead)
            if day.weekday() not in s.days:
                continue
            start = datetime.combine(day, s.start, now.tzinfo)
            if start > now and (best is None or start < best[1]):
                best = (s, start)
                break
    return best


def when_words(moment: datetime, now: datetime) -> str:
    """ "at 20:30", "tomorrow at 07:00" or "on Sat at 09:00"."""
    local = moment.astimezone(now.tzinfo)
    if local.date() == now.date():
        return f"at {local:%H:%M}"
    if local.date() == now.date() + timedelta(days=1):
        return f"tomorrow at {local:%H:%M}"
    return f"on {local:%a} at {local:%H:%M}"


def until_words(moment: datetime, now: datetime) -> str:
    """ "18:30", "tomorrow at 07:00" or "on Sat at 09:00": for "paused until ..."."""
    return when_words(moment, now).removeprefix("at ")


def state_words(state: Now, now: datetime) -> str:
    """What applies to a child this minute, in one line for a parent (Home, Home Assistant)."""
    if state.paused_until is not None:
        return f"Paused until {until_words(state.paused_until, now)}"
    if state.internet_off:
        return " · ".join(
            f"{s.name}: internet off until {s.end:%H:%M}" for s in state.schedules_on if s.block_all
        )
    words = "Internet on" + "".join(f" · {s.name} now" for s in state.schedules_on)
    if state.next_bedtime is not None:
        schedule, start = state.next_bedtime
        words += f" · {schedule.name} {when_words(start, now)}"
    return words
