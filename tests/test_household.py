"""The household snapshot: ages, finding the device behind a query, and its lookup maps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from agent.rules.household import (
    Child,
    ChildSettings,
    Device,
    Household,
    Pause,
    RuleEntry,
    Schedule,
    match_suffix,
)

SAM = Child(1, "Sam", date(2014, 6, 15))
ALEX = Child(2, "Alex", date(2017, 2, 3))
LEAP = Child(3, "Leap", date(2012, 2, 29))


@pytest.mark.parametrize(
    ("child", "day", "age"),
    [
        (SAM, date(2027, 6, 14), 12),  # the day before the 13th birthday
        (SAM, date(2027, 6, 15), 13),  # the birthday itself
        (SAM, date(2027, 12, 31), 13),
        (SAM, date(2028, 1, 1), 13),
        (LEAP, date(2024, 2, 28), 11),
        (LEAP, date(2024, 2, 29), 12),  # a leap year: the real birthday
        (LEAP, date(2025, 2, 28), 12),  # not yet: 29 Feb has not come
        (LEAP, date(2025, 3, 1), 13),  # non-leap years: a year older on 1 March
        (LEAP, date(2012, 2, 29), 0),
    ],
)
def test_age_on(child: Child, day: date, age: int) -> None:
    assert child.age_on(day) == age


TABLET = Device(10, mac="aa:bb:cc:00:00:01", ip="192.168.1.20", owner="child", child_id=1)
LAPTOP = Device(11, mac="aa:bb:cc:00:00:02", ip="192.168.1.21", owner="adult")
TV = Device(12, ip="192.168.1.30", owner="shared")
OLD = Device(
    13, mac="aa:bb:cc:00:00:09", ip="192.168.1.40", last_seen=datetime(2026, 1, 1, tzinfo=UTC)
)
NEW = Device(
    14, mac="aa:bb:cc:00:00:0a", ip="192.168.1.40", last_seen=datetime(2026, 2, 1, tzinfo=UTC)
)
# Registered by IP; a MAC seen there waits for a parent to say it is this device.
MUMS = Device(15, ip="192.168.1.50", owner="adult", pending_mac="aa:bb:cc:00:00:50")
HOME = Household(children=(SAM, ALEX), devices=(TABLET, LAPTOP, TV, OLD, NEW, MUMS))


@pytest.mark.parametrize(
    ("ip", "mac", "expected"),
    [
        ("192.168.1.20", "aa:bb:cc:00:00:01", TABLET),
        # The MAC wins over the IP: the laptop has moved to the tablet's old address.
        ("192.168.1.20", "aa:bb:cc:00:00:02", LAPTOP),
        ("10.9.9.9", "AA:BB:CC:00:00:01", TABLET),  # MACs match whatever their case
        ("192.168.1.21", None, LAPTOP),  # no neighbour entry: the IP decides
        ("192.168.1.30", "de:ad:be:ef:00:01", TV),  # known by IP only, so any MAC will do
        # The address belongs to a device with another MAC: a different, unknown device.
        ("192.168.1.21", "de:ad:be:ef:00:01", None),
        ("192.168.1.99", None, None),
        ("192.168.1.40", None, NEW),  # two devices claim the IP: the one seen last has it
        ("192.168.1.50", "aa:bb:cc:00:00:50", MUMS),  # the waiting MAC, at the device's IP
        ("192.168.1.50", None, MUMS),  # no neighbour entry: known by IP only
        # Another MAC at a registered IP: not Mum's laptop until a parent says so.
        ("192.168.1.50", "de:ad:be:ef:00:01", None),
        ("192.168.1.77", "aa:bb:cc:00:00:50", None),  # a waiting MAC is not bound anywhere
    ],
)
def test_device_for_mac_before_ip(ip: str, mac: str | None, expected: Device | None) -> None:
    assert HOME.device_for(ip, mac) == expected


def test_lookup_maps_are_built_once_and_read_only() -> None:
    assert HOME.child_by_id[2] is ALEX
    assert HOME.child_by_name["sam"] is SAM
    assert HOME.device_by_mac["aa:bb:cc:00:00:02"] is LAPTOP
    assert HOME.device_by_ip["192.168.1.30"] is TV
    assert HOME.device_by_id[12] is TV
    with pytest.raises(TypeError):
        HOME.child_by_name["eve"] = SAM  # type: ignore[index]
    with pytest.raises(AttributeError):
        HOME.children = ()  # type: ignore[misc]


def test_whose_rules() -> None:
    assert HOME.youngest is ALEX
    assert HOME.whose_rules(TABLET, "youngest") == (SAM, False)
    assert HOME.whose_rules(LAPTOP, "youngest") == (None, True)
    assert HOME.whose_rules(TV, "youngest") == (ALEX, False)  # shared with nobody: youngest
    assert HOME.whose_rules(OLD, "youngest") == (ALEX, False)  # unassigned
    assert HOME.whose_rules(None, "adult") == (None, True)
    shared = Device(20, ip="192.168.1.50", owner="shared", shared_with=frozenset({1}))
    gone = Device(21, ip="192.168.1.51", owner="child", child_id=99)
    home = Household(children=(SAM, ALEX), devices=(shared, gone))
    assert home.whose_rules(shared, "youngest") == (SAM, False)  # youngest of those sharing
    assert home.whose_rules(gone, "adult") == (None, True)  # its child is gone: unassigned
    assert Household().whose_rules(None, "youngest") == (None, False)  # no children at all


def test_child_rules_are_precomputed_per_child() -> None:
    until = datetime(2026, 5, 1, 19, 30, tzinfo=UTC)
    bedtime = Schedule(1, "Bedtime", 1, frozenset({0}), time(21), time(7), block_all=True)
    home = Household(
        children=(SAM, ALEX),
        devices=(TABLET,),
        rules=(
            RuleEntry(1, "allow", "domain", "bbc.co.uk"),
            RuleEntry(1, "block", "app", "roblox"),
            RuleEntry(1, "block", "category", "gaming"),
            RuleEntry(2, "allow", "app", "youtube-kids"),
        ),
        schedules=(bedtime,),
        pauses=(
            Pause(until, child_id=1),
            Pause(until.replace(hour=18), child_id=1),
            Pause(until, device_id=10),
        ),
    )
    sam = home.rules_for(1)
    assert sam.allow_domains == {"bbc.co.uk"}
    assert sam.block_apps == {"roblox"} and sam.block_categories == {"gaming"}
    assert sam.schedules == (bedtime,)
    assert sam.paused_until == until  # the latest of two pauses
    assert home.rules_for(2).allow_apps == {"youtube-kids"}
    assert home.rules_for(2).schedules == ()
    assert home.rules_for(99).allow_apps == frozenset()
    assert home.device_paused_until[10] == until


@pytest.mark.parametrize(
    ("weekday", "at", "on"),
    [
        (0, time(20, 59), False),  # Mon, before it starts
        (0, time(21, 0), True),  # Mon 21:00
        (1, time(6, 59), True),  # Tue morning: the part after midnight belongs to Monday's
        (1, time(7, 0), False),
        (1, time(21, 30), False),  # Tuesday evening is not in the schedule
        (6, time(23, 0), True),  # Sunday night...
        (0, time(6, 0), True),  # ...runs into Monday morning
        (5, time(23, 0), False),
        (6, time(6, 0), False),  # Sunday morning would belong to Saturday night
    ],
)
def test_schedule_crossing_midnight(weekday: int, at: time, on: bool) -> None:
    nights = Schedule(1, "Bedtime", 1, frozenset({0, 6}), time(21), time(7), block_all=True)
    assert nights.covers(weekday, at) is on


def test_schedule_within_a_day() -> None:
    school = Schedule(2, "School", 1, frozenset(range(5)), time(9), time(15, 30))
    assert school.covers(2, time(9)) and school.covers(2, time(15, 29))
    assert not school.covers(2, time(15, 30)) and not school.covers(5, time(10))


def test_match_suffix_is_on_label_boundaries() -> None:
    domains = frozenset({"bbc.co.uk", "example.com"})
    assert match_suffix("www.bbc.co.uk", domains) == "bbc.co.uk"
    assert match_suffix("bbc.co.uk", domains) == "bbc.co.uk"
    assert match_suffix("notbbc.co.uk", domains) is None
    assert match_suffix("co.uk", domains) is None


def test_child_settings_defaults() -> None:
    assert SAM.settings == ChildSettings(protections_on=True, youtube_level=None, safe_search=True)
