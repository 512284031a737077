"""What a household value must be before it is stored: pure checks, one-line reasons."""

from __future__ import annotations

from datetime import date, time

import pytest

from agent.household import checks
from agent.household.checks import HouseholdError, check_schedule


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: checks.check_name("  Sam   Jones ", "A name"), "Sam Jones"),
        (lambda: checks.check_domain("*.Example.COM."), "example.com"),
        (lambda: checks.normalise_mac("AA-BB-CC-DD-EE-01"), "aa:bb:cc:dd:ee:01"),
        (lambda: checks.normalise_ip(" ::ffff:192.0.2.1 "), "::ffff:c000:201"),
        (lambda: checks.check_rule("block", "domain", "*.TikTok.com"), "tiktok.com"),
        (lambda: checks.check_rule("allow", "app", " Minecraft "), "minecraft"),
        (lambda: checks.check_born(date(2015, 3, 1), date(2026, 1, 1), adult_ok=False), 10),
        (lambda: checks.check_youtube_level(None), None),
    ],
)
def test_good_values_come_back_as_stored(call, expected) -> None:
    assert call() == expected


@pytest.mark.parametrize(
    ("call", "reason"),
    [
        (lambda: checks.check_name("a, b", "A child's name"), "no commas"),
        (lambda: checks.check_domain("not a domain"), "is not a domain"),
        (lambda: checks.normalise_mac("00:00:00:00:00:00"), "not a MAC address"),
        (lambda: checks.check_rule("permit", "app", "x"), "allow|block"),
        (lambda: checks.check_rule("allow", "category", "two words"), "not a valid category"),
        (
            lambda: checks.check_born(date(2030, 1, 1), date(2026, 1, 1), adult_ok=False),
            "not a possible date",
        ),
        (
            lambda: checks.check_born(date(2000, 1, 1), date(2026, 1, 1), adult_ok=False),
            "protections would stop",
        ),
        (lambda: checks.check_youtube_level("loud"), "strict, moderate or off"),
    ],
)
def test_bad_values_are_refused_with_a_reason(call, reason) -> None:
    with pytest.raises(HouseholdError, match=reason):
        call()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"days": []}, "at least one day"),
        ({"days": [7]}, "at least one day"),
        ({"end": time(19)}, "would be on all day"),
        ({"block_all": False, "block": [" "]}, "block everything or at least one thing"),
        ({"allow": ["not a domain"]}, "is not a domain"),
        ({"name": "a, b"}, "no commas"),
    ],
)
def test_a_schedule_is_checked_before_it_is_stored(changes, message) -> None:
    values = {"name": "Bedtime", "days": [0, 6], "start": time(19), "end": time(7),
              "block_all": True, "block": [], "allow": [], "all_day": False} | changes  # fmt: skip
    name, days, start, end = (values.pop(k) for k in ("name", "days", "start", "end"))
    with pytest.raises(HouseholdError, match=message):
        check_schedule(name, days, start, end, **values)


def test_a_checked_schedule_is_in_the_boxs_own_spelling() -> None:
    blocked, allowed = [" Gaming ", "video"], ["BBC.co.uk."]
    s = check_schedule("  Home  work ", [4, 0, 0], time(16), time(18), block_all=False,
                       block=blocked, allow=allowed, all_day=False)  # fmt: skip
    assert (s.name, s.days, s.block, s.allow) == (
        "Home work",
        frozenset({0, 4}),
        frozenset({"gaming", "video"}),
        frozenset({"bbc.co.uk"}),
    )
    whole = check_schedule("Screen-free Sunday", [6], time(19), time(19), block_all=True,
                           block=[], allow=[], all_day=True)  # fmt: skip
    assert (whole.start, whole.end) == (time(0), time(0))
