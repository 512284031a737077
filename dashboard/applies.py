"""What the house rules mean for one child: now, by app, and in words a parent or child reads.

Nothing here decides anything: app by app it asks `agent.rules.decide`, the DNS's own decision
point, on behalf of a made-up device that belongs to the child. Standing rules (apps, ages,
categories) are asked without schedules and pauses, so a toggle shows what the rule is, not
what bedtime happens to do this minute; schedules and pauses are shown on their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.rules import schedule_words
from agent.rules.catalog import App
from agent.rules.decide import ADULT_AGE, decide
from agent.rules.decision import Decision, RuleKind
from agent.rules.household import Child, Device, Household, Schedule
from agent.rules.now import (  # noqa: F401  (the pages' templates read them as words.*)
    Now,
    now_for,
    state_words,
    until_words,
    when_words,
)
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
