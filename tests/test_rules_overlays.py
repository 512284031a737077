"""Temporary changes read by the decision point, as tables: (who, when, name) -> (action, rule).

An overlay is data with an end: `decide()` applies it while `now < until`, so at `until` itself
it has ended, with nothing written anywhere. Pause beats everything; "more time" holds one
schedule off; an "unblock" acts like the parent's explicit allow (so a schedule still wins).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from test_rules import CATALOG, INDEX, LONDON, SAFESEARCH

from agent.config import RulesConfig
from agent.rules import overlays as words
from agent.rules.decide import decide
from agent.rules.decision import Action
from agent.rules.household import Child, Device, Household, Overlay, Pause, RuleEntry, Schedule
from agent.rules.policy import Policy
from agent.store import household as store
from agent.store import overlays
from agent.store.db import init_db, make_engine
from agent.store.snapshot import read_household

ALLOW, BLOCK = Action.ALLOW, Action.BLOCK
SAM, ALEX = Child(1, "Sam", date(2013, 11, 24)), Child(2, "Alex", date(2018, 1, 20))  # 12, 8
SAM_PHONE, ALEX_TABLET = "192.168.1.10", "192.168.1.11"


def at(hour: int, minute: int = 0, second: int = 0, day: int = 23) -> datetime:
    """Monday 23 November 2026 (Sam is 12), London time."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=LONDON)


BEDTIME = Schedule(1, "Bedtime", 1, frozenset({0, 6}), time(21), time(7), block_all=True)
GAMING = frozenset({"gaming"})
HOMEWORK = Schedule(2, "Homework", 1, frozenset(range(5)), time(16), time(18), block=GAMING)
OVERLAYS = (
    Overlay(1, 1, "more_time", at(21, 30), schedule_id=1),
    Overlay(2, 1, "unblock", at(19, 15), target_kind="app", target="tiktok"),
    Overlay(3, 1, "unblock", at(22), target_kind="domain", target="example-games.com"),
)
HOME = Household(
    children=(SAM, ALEX),
    devices=(
        Device(1, None, SAM_PHONE, "Sam's phone", "child", 1),
        Device(2, None, ALEX_TABLET, "Alex's tablet", "child", 2),
    ),
    rules=(RuleEntry(1, "block", "domain", "example-games.com"),),
    schedules=(BEDTIME, HOMEWORK),
    overlays=OVERLAYS,
)
PAUSED = Household(
    children=HOME.children,
    devices=HOME.devices,
    rules=HOME.rules,
    schedules=HOME.schedules,
    overlays=OVERLAYS,
    pauses=(Pause(at(19, 30), child_id=1),),
)


def policy(household: Household) -> Policy:
    return Policy(INDEX, household, CATALOG, SAFESEARCH, {}, RulesConfig())


CASES = [
    # an unblock of an app, up to its last second and not at its end
    ("unblock runs", HOME, SAM_PHONE, "tiktok.com", at(19), ALLOW, "unblock:app:tiktok"),
    (
        "last second",
        HOME,
        SAM_PHONE,
        "tiktok.com",
        at(19, 14, 59),
        ALLOW,
        "unblock:app:tiktok",
    ),  # noqa: E501
    ("at its end", HOME, SAM_PHONE, "tiktok.com", at(19, 15), BLOCK, "age:tiktok"),
    ("only Sam's", HOME, ALEX_TABLET, "tiktok.com", at(19), BLOCK, "age:tiktok"),
    # an unblock of a website beats the parent's block rule, and covers names below it
    (
        "site",
        HOME,
        SAM_PHONE,
        "www.example-games.com",
        at(20),
        ALLOW,
        "unblock:domain:example-games.com",
    ),  # noqa: E501
    (
        "site ended",
        HOME,
        SAM_PHONE,
        "example-games.com",
        at(22, day=24),
        BLOCK,
        "block:domain:example-games.com",
    ),  # noqa: E501
    # more time holds bedtime off until its end, then bedtime is back as it was
    ("more time", HOME, SAM_PHONE, "example.com", at(21, 10), ALLOW, "default"),
    ("more time last second", HOME, SAM_PHONE, "example.com", at(21, 29, 59), ALLOW, "default"),
    ("more time over", HOME, SAM_PHONE, "example.com", at(21, 30), BLOCK, "schedule:Bedtime"),
    # more time on bedtime says nothing about another schedule
    ("other schedule", HOME, SAM_PHONE, "roblox.com", at(17), BLOCK, "schedule:Homework"),
    # a schedule still wins over an unblock, as over the parent's own allow
    (
        "schedule beats unblock",
        HOME,
        SAM_PHONE,
        "example-games.com",
        at(21, 45),
        BLOCK,
        "schedule:Bedtime",
    ),  # noqa: E501
    # a pause beats both
    ("pause beats unblock", PAUSED, SAM_PHONE, "tiktok.com", at(19), BLOCK, "pause"),
    ("pause over", PAUSED, SAM_PHONE, "tiktok.com", at(19, 30), BLOCK, "age:tiktok"),
    (
        "pause then unblock",
        PAUSED,
        SAM_PHONE,
        "www.example-games.com",
        at(19, 30),
        ALLOW,
        "unblock:domain:example-games.com",
    ),  # noqa: E501
]


@pytest.mark.parametrize(
    ("household", "client", "name", "now", "action", "rule"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_overlays_decide(household, client, name, now, action, rule) -> None:
    got = decide(policy(household), client, name, 1, now)
    assert (got.action, got.rule.to_column()) == (action, rule)


def test_the_reason_names_the_end() -> None:
    got = decide(policy(HOME), SAM_PHONE, "tiktok.com", 1, at(19))
    assert got.reason == "Allowed for Sam for a while: TikTok, until 19:15"


def test_an_ending_is_seen_in_the_next_second_though_decisions_are_memoised() -> None:
    """decide() keeps answers for the rest of a second: never past an overlay's end."""
    p = policy(HOME)
    start = at(19, 14, 58)
    seen = [
        decide(p, SAM_PHONE, "tiktok.com", 1, start + timedelta(seconds=s)).action for s in range(4)
    ]  # noqa: E501
    assert seen == [ALLOW, ALLOW, BLOCK, BLOCK]


def test_the_household_knows_when_the_next_temporary_change_ends() -> None:
    assert PAUSED.next_end(at(19)) == at(19, 15)
    assert PAUSED.next_end(at(19, 15)) == at(19, 30)
    assert PAUSED.next_end(at(22)) is None


def test_a_restart_reads_the_same_overlays_and_loses_no_schedule(tmp_path: Path) -> None:
    """Written through the store, read back the way the DNS process reads after a restart
    (plain sqlite3), the overlays decide the same and every schedule is there."""
    db = tmp_path / "hr.db"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    sam = store.add_child(engine, "Sam", SAM.born, today=at(12).date())
    store.add_child(engine, "Alex", ALEX.born, today=at(12).date())
    store.add_device(engine, ip=SAM_PHONE, owner="child", child_id=sam.id)
    store.add_rule(engine, sam.id, "block", "domain", "example-games.com")
    bedtime = store.add_schedule(
        engine, sam.id, "Bedtime", {0, 6}, time(21), time(7), block_all=True
    )  # noqa: E501
    version = store.household_version(engine)
    overlays.add_overlay(engine, sam.id, "more_time", at(21, 30), at(21), schedule_id=bedtime.id)
    assert store.household_version(engine) == version + 1
    overlays.add_overlay(
        engine, sam.id, "unblock", at(19, 15), at(19), target_kind="app", target="tiktok"
    )  # noqa: E501
    restarted = policy(read_household(db))
    assert [s.name for s in restarted.household.schedules] == ["Bedtime"]
    for name, now, action in [
        ("tiktok.com", at(19, 14, 59), ALLOW),
        ("tiktok.com", at(19, 15), BLOCK),
        ("example.com", at(21, 29, 59), ALLOW),
        ("example.com", at(21, 30), BLOCK),
    ]:
        assert decide(restarted, SAM_PHONE, name, 1, now).action is action, (name, now)


def test_ending_an_overlay_early_bumps_the_version_and_takes_effect(tmp_path: Path) -> None:
    db = tmp_path / "hr.db"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    sam = store.add_child(engine, "Sam", SAM.born, today=at(12).date())
    store.add_device(engine, ip=SAM_PHONE, owner="child", child_id=sam.id)
    given = overlays.add_overlay(
        engine, sam.id, "unblock", at(20), at(19), target_kind="app", target="tiktok"
    )  # noqa: E501
    assert decide(policy(read_household(db)), SAM_PHONE, "tiktok.com", 1, at(19, 5)).action is ALLOW
    version = store.household_version(engine)
    ended = overlays.end_overlay(engine, given.id, at(19, 5))
    assert ended.until == at(19, 5) and store.household_version(engine) == version + 1
    assert decide(policy(read_household(db)), SAM_PHONE, "tiktok.com", 1, at(19, 5)).action is BLOCK
    assert overlays.list_overlays(engine, sam.id, running_at=at(19, 5)) == []


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        ("forever", {}, "more_time or unblock"),
        ("more_time", {}, "names the schedule"),
        ("unblock", {"target_kind": "schedule", "target": "gaming"}, "a kind of app or a website"),
        ("unblock", {"target_kind": "domain", "target": "not a domain"}, "not a domain"),
    ],
)
def test_overlay_mistakes(tmp_path: Path, kind, extra, message) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'hr.db'}")
    init_db(engine)
    sam = store.add_child(engine, "Sam", SAM.born, today=at(12).date())
    with pytest.raises(store.HouseholdError, match=message):
        overlays.add_overlay(engine, sam.id, kind, at(20), at(19), **extra)
    with pytest.raises(store.HouseholdError, match="end after it starts"):
        overlays.add_overlay(engine, sam.id, "more_time", at(19), at(19), schedule_id=1)


@pytest.mark.parametrize(
    ("choice", "until"),
    [("15m", at(19, 15)), ("1h", at(20)), ("today", at(0, day=24)), ("always", None)],
)
def test_unblock_lengths(choice, until) -> None:
    assert words.unblock_until(choice, at(19)) == until


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(0, "ended"), (30, "under a minute left"), (61, "2 min left"), (900, "15 min left"),
     (3600, "1 h left"), (3900, "1 h 5 min left")],
)  # fmt: skip
def test_time_left(seconds, said) -> None:
    assert words.time_left(at(19) + timedelta(seconds=seconds), at(19)) == said


def test_a_reward_for_a_whole_category_opens_it_until_its_end_and_no_further() -> None:
    """ "Games until six": an unblock of a kind of app, read by decide() while now < until."""
    from dataclasses import replace

    treat = Overlay(9, 2, "unblock", at(18), target_kind="category", target="social")
    home = replace(HOME, overlays=(*HOME.overlays, treat))
    during = decide(policy(home), ALEX_TABLET, "www.tiktok.com", 1, at(17, 59, 59))
    assert (during.action, during.rule.to_column()) == (ALLOW, "unblock:category:social")
    assert during.reason == "Allowed for Alex for a while: social, until 18:00"
    after = decide(policy(home), ALEX_TABLET, "www.tiktok.com", 1, at(18))
    assert (after.action, after.rule.to_column()) == (BLOCK, "age:tiktok")
    sam = decide(policy(home), SAM_PHONE, "www.instagram.com", 1, at(17))
    assert sam.rule.to_column() != "unblock:category:social"  # Alex's treat, not Sam's
