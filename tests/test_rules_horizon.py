"""How long the rules engine's decisions hold as time passes (`decide.holds_until`).

The DNS server keeps prepared answers until that moment (agent/dns/server.py), so a horizon
that came too late would be a bedtime that starts late. Each test here asks `decide` itself,
second by second where it matters, and checks the horizon against what it answers.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from test_rules_overlays import ALEX, ALEX_TABLET, HOME, SAM, SAM_PHONE, at, policy

from agent.rules.decide import decide, holds_until
from agent.rules.household import (
    Budget,
    Household,
    Overlay,
    Pause,
    RuleEntry,
    Schedule,
)
from agent.rules.policy import Policy

VISITOR = "192.168.1.99"  # Sam is 12 on Monday 23 November 2026, 13 on Tuesday; Alex is 8
DEVICES = HOME.devices  # Sam's phone and Alex's tablet
EVERY_DAY = frozenset(range(7))
BEDTIME = Schedule(1, "Bedtime", 1, EVERY_DAY, time(21), time(7), block_all=True)
HOMEWORK = Schedule(2, "Homework", 2, frozenset(range(5)), time(16), time(18, 0, 30),
                    block=frozenset({"gaming"}))  # fmt: skip
NAMES = ("example.com", "tiktok.com", "roblox.com", "www.google.com", "example-games.com")
CLIENTS = (SAM_PHONE, ALEX_TABLET, VISITOR)


def home(**parts: object) -> Household:
    given = {"children": (SAM, ALEX), "devices": DEVICES, "schedules": (BEDTIME, HOMEWORK)}
    given.update(parts)
    return Household(**given)  # type: ignore[arg-type]


BUDGET = Budget(1, 2, "all", "", (30,) * 7, reset_hour=4, used=45, used_day=date(2026, 11, 22))
HOUSEHOLDS = {
    "schedules": home(rules=(RuleEntry(1, "block", "domain", "example-games.com"),)),
    "overlays": home(
        overlays=(
            Overlay(1, 1, "more_time", at(21, 30), schedule_id=1),
            Overlay(2, 2, "unblock", at(19, 15, 20), target_kind="app", target="tiktok"),
        )
    ),
    "paused": home(pauses=(Pause(at(19, 30, 10), child_id=1),)),
    "budget": home(budgets=(BUDGET,)),  # Alex's day (from 04:00 Sunday) is used up
    "none": None,
}


def answers(p: Policy, moment: datetime) -> list[object]:
    return [decide(p, client, name, 1, moment) for client in CLIENTS for name in NAMES]


@pytest.mark.parametrize("which", list(HOUSEHOLDS))
def test_nothing_decide_answers_changes_before_the_horizon(which: str) -> None:
    """From many moments across two days, every decision (the reason's words included) is
    the same at every second up to the horizon; the horizon comes within a day."""
    p = policy(HOUSEHOLDS[which])
    start = at(0, 0, 0, day=22)
    for step in range(0, 2 * 24 * 3600, 797):  # every 13 min 17 s, for two days
        now = start + timedelta(seconds=step)
        horizon = holds_until(p, now)
        assert now < horizon <= now + timedelta(days=1)
        said = answers(p, now)
        seconds = int((horizon - now).total_seconds())
        for ahead in {1, seconds // 2, seconds - 1} if seconds > 1 else ():
            assert answers(p, now + timedelta(seconds=ahead)) == said, (now, ahead)


@pytest.mark.parametrize(
    ("which", "now", "horizon", "changes"),
    [
        ("schedules", at(20, 59, 10), at(21), (SAM_PHONE, "example.com")),  # bedtime starts
        ("schedules", at(6, 59, 59), at(7), (SAM_PHONE, "example.com")),  # and ends
        ("schedules", at(18, 0, 5), at(18, 0, 30), (ALEX_TABLET, "roblox.com")),  # to the second
        ("overlays", at(19, 15), at(19, 15, 20), (ALEX_TABLET, "tiktok.com")),  # unblock ends
        ("overlays", at(21, 10), at(21, 30), (SAM_PHONE, "example.com")),  # more time ends
        ("paused", at(19, 30), at(19, 30, 10), (SAM_PHONE, "example.com")),  # the pause ends
        ("budget", at(3, 59, 59), at(4), (ALEX_TABLET, "example.com")),  # a new budget day
    ],
)
def test_the_horizon_is_the_moment_a_decision_changes(which, now, horizon, changes) -> None:
    p = policy(HOUSEHOLDS[which])
    assert holds_until(p, now) == horizon
    client, name = changes
    before = decide(p, client, name, 1, horizon - timedelta(seconds=1))
    assert decide(p, client, name, 1, horizon) != before


def test_sams_birthday_at_midnight_changes_his_answers() -> None:
    """Sam turns 13 at midnight: TikTok opens, so midnight is a horizon with no rule at it."""
    p = policy(home(schedules=()))
    assert holds_until(p, at(23, 59, 50)) == at(0, day=24)
    assert decide(p, SAM_PHONE, "tiktok.com", 1, at(23, 59, 59)).action.value == "block"
    assert decide(p, SAM_PHONE, "tiktok.com", 1, at(0, day=24)).action.value != "block"
