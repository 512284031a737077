"""What the house rules mean for one child: now, by app, and in words a parent or child reads.

Nothing here decides anything: app by app it asks `agent.rules.decide`, the DNS's own decision
point, on behalf of a made-up device that belongs to the child. Standing rules (apps, ages,
categories) are asked without schedules and pauses, so a toggle shows what the rule is, not
what bedtime happens to do this minute; schedules and pauses are shown on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.rules import schedule_words
from agent.rules.catalog import App
from agent.rules.decide import ADULT_AGE, decide
from agent.rules.decision import Decision, RuleKind
from agent.rules.household import Child, Device, Household, Schedule
from agent.rules.overlays import held_off
from agent.rules.reasons import child_words
from dashboard.box import Box

QTYPE_A = 1
FLAG_WORDS = {
    "chat_with_strangers": "chat with strangers",
    "video_chat": "video calls",
    "live_streaming": "live streaming",
    "disappearing_messages": "disappearing messages",
    "location_sharing": "shares location",
    "anonymous": "anonymous posts",
}


def probe_address(child: Child) -> str:
    return f"probe-{child.id}"  # not an address any real device can have


@dataclass(frozen=True)
class AppStatus:
    app: App
    decision: Decision
    choice: str  # the parent's explicit rule: "allow", "block" or "default"

    @property
    def blocked(self) -> bool:
        return self.decision.blocked

    @property
    def by_age(self) -> bool:
        return self.decision.rule.kind.by_age


@dataclass(frozen=True)
class Now:
    paused_until: datetime | None
    schedules_on: tuple[Schedule, ...]
    next_bedtime: tuple[Schedule, datetime] | None

    @property
    def internet_off(self) -> bool:
        return self.paused_until is not None or any(s.block_all for s in self.schedules_on)


def standing(household: Household, child: Child) -> Household:
    """The household plus a device of the child's, without schedules and pauses."""
    probe = Device(id=-child.id, ip=probe_address(child), owner="child", child_id=child.id)
    return Household(
        children=household.children,
        devices=(*household.devices, probe),
        rules=household.rules,
        version=household.version,
    )


def app_statuses(b: Box, household: Household, child: Child, now: datetime) -> list[AppStatus]:
    policy = b.policy(standing(household, child))
    rules = household.rules_for(child.id)
    out = []
    for app in b.catalog.apps.values():
        decision = decide(policy, probe_address(child), b.own_domain[app.id], QTYPE_A, now)
        choice = (
            "allow"
            if app.id in rules.allow_apps
            else "block"
            if app.id in rules.block_apps
            else "default"
        )
        out.append(AppStatus(app, decision, choice))
    return out


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


def youtube_level(child: Child, age: int) -> str:
    if child.settings.youtube_level:
        return child.settings.youtube_level
    return "strict" if age < 13 else "moderate" if age < ADULT_AGE else "off"


# Words -------------------------------------------------------------------------------------


def days_words(days: frozenset[int]) -> str:
    return schedule_words.days_words(days)


def window_words(s: Schedule) -> str:
    return schedule_words.window_words(s)


def what_words(s: Schedule, b: Box) -> str:
    if s.block_all:
        return "the whole internet is off"
    things = sorted(b.app_name(x) if b.catalog.get(x) else x.replace("-", " ") for x in s.block)
    return ", ".join(str(t) for t in things) + " off"


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


def kid_reason(status: AppStatus) -> str:
    """Why an app is off, for the child."""
    return child_words(status.decision.rule, status.app.minimum_age)


def parent_reason(status: AppStatus) -> str:
    d = status.decision
    if d.rule.kind in (RuleKind.ALLOW_APP, RuleKind.ALLOW_CATEGORY, RuleKind.ALLOW_DOMAIN):
        return "Allowed by your rule"
    if d.rule.kind is RuleKind.SAFE_SEARCH:
        return "Allowed, with safe search / restricted mode"
    return d.reason or ("Blocked" if d.blocked else "Allowed")
