"""Daily time budgets read by the decision point, with an injected clock.

Sam (12) has "an hour of games on school days, two at weekends", a day that starts again at
04:00, and a bedtime. The minutes used are what the snapshot holds (the insights job counts
them); extra time and rewards are overlays with an end. A budget only ever blocks.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time

from test_rules import CATALOG, INDEX, LONDON, SAFESEARCH

from agent.config import RulesConfig
from agent.rules import budgets
from agent.rules.decide import decide
from agent.rules.decision import Action, RuleKind
from agent.rules.household import Budget, Child, Device, Household, Overlay, Schedule
from agent.rules.policy import Policy

ALLOW, BLOCK = Action.ALLOW, Action.BLOCK
SAM = Child(1, "Sam", date(2013, 11, 24))
PHONE = "192.168.1.10"
BEDTIME = Schedule(1, "Bedtime", 1, frozenset(range(7)), time(21), time(7), block_all=True)
GAMES = Budget(1, 1, "category", "gaming", budgets.week_of(60, 120))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """November 2026: the 23rd is a Monday (a school day), the 28th a Saturday."""
    return datetime(2026, 11, day, hour, minute, tzinfo=LONDON)


def home(*found: Budget, overlays: tuple[Overlay, ...] = ()) -> Policy:
    household = Household(
        children=(SAM,),
        devices=(Device(1, None, PHONE, "Sam's phone", "child", 1),),
        schedules=(BEDTIME,),
        overlays=overlays,
        budgets=found,
    )
    return Policy(INDEX, household, CATALOG, SAFESEARCH, {}, RulesConfig())


def used(minutes: int, day: date, budget: Budget = GAMES) -> Budget:
    return replace(budget, used=minutes, used_day=day)


def ask(policy: Policy, name: str, now: datetime):
    return decide(policy, PHONE, name, 1, now)


def test_a_school_day_hour_of_games_blocks_every_game_when_it_is_used_up() -> None:
    monday = date(2026, 11, 23)
    assert ask(home(used(59, monday)), "roblox.com", at(23, 17)).action is ALLOW
    full = home(used(60, monday))
    for name in ("roblox.com", "minecraft.net"):
        d = ask(full, name, at(23, 17))
        assert d.action is BLOCK and d.rule.kind is RuleKind.BUDGET_CATEGORY
        assert d.reason == "Gaming: today's hour is used up"
    assert ask(full, "tiktok.com", at(23, 17)).rule.kind is not RuleKind.BUDGET_CATEGORY
    assert ask(full, "example.com", at(23, 17)).action is ALLOW  # the rest flows


def test_the_weekend_value_applies_on_saturday() -> None:
    saturday = date(2026, 11, 28)
    assert ask(home(used(60, saturday)), "roblox.com", at(28, 12)).action is ALLOW
    d = ask(home(used(120, saturday)), "roblox.com", at(28, 12))
    assert d.action is BLOCK and d.reason == "Gaming: today's 2 hours are used up"


def test_a_weekday_of_its_own_overrides_the_school_day_value() -> None:
    wednesday_short = replace(GAMES, days=budgets.week_of(60, 120, {2: 30}))
    wednesday = date(2026, 11, 25)
    assert ask(home(used(30, wednesday, wednesday_short)), "roblox.com", at(25, 17)).action is BLOCK
    assert ask(home(used(30, wednesday, wednesday_short)), "roblox.com", at(25, 17)).reason == (
        "Gaming: today's 30 minutes are used up"
    )


def test_the_day_starts_again_at_the_reset_hour_not_at_midnight() -> None:
    monday = date(2026, 11, 23)
    full = home(used(60, monday))
    # 03:59 on Tuesday still counts for Monday (bedtime aside: an early-rising device at 03:59
    # is blocked by bedtime anyway, so ask with bedtime gone)
    no_bed = Policy(
        INDEX, replace(full.household, schedules=()), CATALOG, SAFESEARCH, {}, RulesConfig()
    )
    assert ask(no_bed, "roblox.com", at(24, 3, 59)).rule.kind is RuleKind.BUDGET_CATEGORY
    assert ask(no_bed, "roblox.com", at(24, 4, 0)).action is ALLOW
    assert budgets.budget_day(at(24, 3, 59), 4) == monday
    assert budgets.next_reset(at(23, 22), 4) == at(24, 4)


def test_fifteen_more_minutes_open_it_and_it_closes_when_they_are_spent() -> None:
    monday = date(2026, 11, 23)
    extra = Overlay(5, 1, "extra_time", at(24, 4), target_kind="budget", target="1", minutes=15)
    assert ask(home(used(60, monday), overlays=(extra,)), "roblox.com", at(23, 17)).action is ALLOW
    assert ask(home(used(74, monday), overlays=(extra,)), "roblox.com", at(23, 17)).action is ALLOW
    d = ask(home(used(75, monday), overlays=(extra,)), "roblox.com", at(23, 17))
    assert d.action is BLOCK and d.reason == "Gaming: today's hour is used up"
    no_limit = replace(extra, id=6, minutes=None)
    both = (extra, no_limit)
    assert ask(home(used(600, monday), overlays=both), "roblox.com", at(23, 18)).action is ALLOW
    # the extra time ends with the day: on Tuesday the new hour is all there is
    tuesday = date(2026, 11, 24)
    d = ask(home(used(60, tuesday), overlays=both), "roblox.com", at(24, 17))
    assert d.action is BLOCK


def test_a_reward_opens_the_app_until_it_ends_on_time() -> None:
    monday = date(2026, 11, 23)
    reward = Overlay(7, 1, "unblock", at(23, 18), target_kind="app", target="roblox")
    policy = home(used(60, monday), overlays=(reward,))
    assert ask(policy, "roblox.com", at(23, 17, 59)).action is ALLOW
    assert ask(policy, "roblox.com", at(23, 18)).rule.kind is RuleKind.BUDGET_CATEGORY
    assert ask(policy, "minecraft.net", at(23, 17)).action is BLOCK  # only what was given


def test_a_budget_never_opens_what_bedtime_closes() -> None:
    monday = date(2026, 11, 23)
    extra = Overlay(5, 1, "extra_time", at(24, 4), target_kind="budget", target="1", minutes=None)
    policy = home(used(0, monday), overlays=(extra,))
    d = ask(policy, "roblox.com", at(23, 21, 30))
    assert d.action is BLOCK and d.rule.kind is RuleKind.SCHEDULE


def test_an_app_budget_and_all_online_time() -> None:
    monday = date(2026, 11, 23)
    youtube_kids = Budget(2, 1, "app", "youtube-kids", budgets.week_of(30, 30))
    d = ask(home(used(30, monday, youtube_kids)), "youtubekids.com", at(23, 17))
    assert d.action is BLOCK and d.reason == "YouTube Kids: today's 30 minutes are used up"
    everything = Budget(3, 1, "all", "", budgets.week_of(120, 180))
    d = ask(home(used(120, monday, everything)), "example.com", at(23, 17))
    assert d.action is BLOCK and d.reason == "Online time: today's 2 hours are used up"


def test_what_the_child_reads() -> None:
    assert budgets.left_words(45) == "45 minutes left"
    assert budgets.left_words(5) == "5 minutes left"
    assert budgets.left_words(0) == "time's up"
    assert budgets.left_words(None) == "no limit today"
    assert budgets.left_words(75) == "1 h 15 min left"
