"""The household store on a real SQLite file: round trips, version bumps, merges, validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from agent.rules.household import Child, ChildSettings
from agent.store import household as store
from agent.store.db import init_db, make_engine
from agent.store.household import HouseholdError
from agent.store.querylog import QueryLogRow

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Engine:
    eng = make_engine(store_url)
    init_db(eng)
    return eng


@pytest.fixture
def sam(engine: Engine) -> Child:
    return store.add_child(engine, "Sam", date(2014, 6, 15))


def test_children_round_trip(engine: Engine) -> None:
    assert store.household_version(engine) == 0
    alex = store.add_child(engine, "  Alex  ", date(2018, 1, 20))
    sam = store.add_child(engine, "Sam", date(2014, 6, 15))
    assert alex.name == "Alex" and alex.settings == ChildSettings()
    assert store.list_children(engine) == (sam, alex)  # eldest first
    assert store.get_child_by_name(engine, "SAM") == sam
    assert store.get_child_by_name(engine, "nobody") is None
    changed = store.set_child_settings(engine, sam.id, protections_on=False, youtube_level="strict")
    assert changed.settings == ChildSettings(False, "strict", True)
    again = store.set_child_settings(engine, sam.id, safe_search=False)
    assert again.settings == ChildSettings(False, "strict", False)  # the rest kept
    assert (
        store.set_child_settings(engine, sam.id, youtube_level=None).settings.youtube_level is None
    )
    assert store.household_version(engine) == 5


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda e, s: store.add_child(e, "sam", date(2015, 1, 1)), "already a child called sam"),
        (lambda e, s: store.add_child(e, "", date(2015, 1, 1)), "A child's name"),
        (
            lambda e, s: store.add_child(e, "Baby", date(2030, 1, 1), today=date(2026, 1, 1)),
            "not a possible date of birth",
        ),
        (lambda e, s: store.set_child_settings(e, 99, safe_search=False), "no child with id 99"),
        (lambda e, s: store.set_child_settings(e, s.id, youtube_level="loud"), "YouTube level"),
        (lambda e, s: store.add_device(e, mac="zz:zz", owner="adult"), "not a MAC address"),
        (lambda e, s: store.add_device(e, ip="192.168.1.300", owner="adult"), "not an IP address"),
        (lambda e, s: store.add_device(e, owner="adult"), "needs a MAC address or an IP"),
        (lambda e, s: store.add_device(e, ip="10.0.0.2", owner="child"), "which child"),
        (lambda e, s: store.add_device(e, ip="10.0.0.2", owner="child", child_id=7), "no child"),
        (lambda e, s: store.add_device(e, ip="10.0.0.2", owner="cat"), "not 'cat'"),
        (lambda e, s: store.add_rule(e, 99, "allow", "app", "roblox"), "no child with id 99"),
        (lambda e, s: store.add_rule(e, s.id, "permit", "app", "roblox"), "allow|block"),
        (lambda e, s: store.add_rule(e, s.id, "allow", "domain", "not a domain"), "not a domain"),
        (lambda e, s: store.remove_rule(e, 42), "no rule with id 42"),
        (
            lambda e, s: store.add_schedule(e, s.id, "Bed", [], time(21), time(7), block_all=True),
            "at least one day",
        ),
        (
            lambda e, s: store.add_schedule(e, s.id, "Bed", [0], time(21), time(7)),
            "block everything or at least one thing",
        ),
        (lambda e, s: store.pause(e, T0, child_id=s.id, device_id=1), "either a child or"),
        (lambda e, s: store.pause(e, T0.replace(tzinfo=None), child_id=s.id), "timezone"),
        (lambda e, s: store.pause(e, T0, device_id=5), "no device with id 5"),
        (lambda e, s: store.merge_devices(e, 1, 1), "two different devices"),
        (lambda e, s: store.update_device(e, 9, name="x"), "no device with id 9"),
    ],
)
def test_mistakes_are_one_line_and_change_nothing(
    engine: Engine, sam: Child, call: Callable[[Engine, Child], Any], message: str
) -> None:
    before = store.household_version(engine)
    with pytest.raises(HouseholdError) as caught:
        call(engine, sam)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert store.household_version(engine) == before


def test_devices_add_claim_update_list(engine: Engine, sam: Child) -> None:
    laptop = store.add_device(engine, mac="AA-BB-CC-DD-EE-01", name="Laptop", owner="adult")
    assert laptop.mac == "aa:bb:cc:dd:ee:01" and laptop.owner == "adult"
    phone = store.add_device(engine, ip="192.168.1.20", owner="child", child_id=sam.id)
    assert (phone.ip, phone.child_id, phone.mac) == ("192.168.1.20", sam.id, None)
    # Adding the same MAC again for someone else is refused, naming the device, unless the
    # parent asks to move it: then it claims the existing device rather than adding another.
    with pytest.raises(store.AddressTaken, match="belongs to Laptop"):
        store.add_device(engine, mac="aabb.ccdd.ee01", owner="shared", shared_with=[sam.id])
    claimed = store.add_device(
        engine, mac="aabb.ccdd.ee01", owner="shared", shared_with=[sam.id], move=True
    )
    assert claimed.id == laptop.id and claimed.owner == "shared"
    assert claimed.shared_with == {sam.id} and claimed.name == "Laptop"
    renamed = store.update_device(engine, phone.id, name="Sam's phone", inspect=True)
    assert renamed.name == "Sam's phone" and renamed.inspect and renamed.owner == "child"
    adult = store.update_device(engine, phone.id, owner="adult")
    assert (adult.owner, adult.child_id, adult.name) == ("adult", None, "Sam's phone")
    assert [d.id for d in store.list_devices(engine)] == [laptop.id, phone.id]


def test_every_change_bumps_the_version(engine: Engine, sam: Child) -> None:
    seen = [store.household_version(engine)]

    def changed() -> None:
        version = store.household_version(engine)
        assert version == seen[-1] + 1
        seen.append(version)

    device = store.add_device(engine, ip="192.168.1.20", owner="child", child_id=sam.id)
    changed()
    store.update_device(engine, device.id, name="Tablet")
    changed()
    rule = store.add_rule(engine, sam.id, "block", "app", "roblox")
    changed()
    store.remove_rule(engine, rule.id or 0)
    changed()
    schedule = store.add_schedule(engine, sam.id, "Bed", [0], time(21), time(7), block_all=True)
    changed()
    store.remove_schedule(engine, schedule.id)
    changed()
    store.pause(engine, T0, child_id=sam.id)
    changed()
    store.resume(engine, child_id=sam.id)
    changed()
    store.set_child_settings(engine, sam.id, safe_search=False)
    changed()
    store.record_seen(engine, {"192.168.1.50": ("aa:bb:cc:dd:ee:50", T0.timestamp())})
    changed()
    other = store.list_devices(engine)[-1]
    store.merge_devices(engine, device.id, other.id)
    changed()
    assert store.load_household(engine).version == seen[-1]


def test_rules_round_trip_and_the_latest_word_counts(engine: Engine, sam: Child) -> None:
    block = store.add_rule(engine, sam.id, "block", "app", " Roblox ")
    assert (block.verb, block.kind, block.value) == ("block", "app", "roblox")
    domain = store.add_rule(engine, sam.id, "allow", "domain", "*.BBC.co.uk.")
    assert domain.value == "bbc.co.uk"
    allow = store.add_rule(engine, sam.id, "allow", "app", "roblox")  # replaces the block
    assert allow.id == block.id and allow.verb == "allow"
    assert store.list_rules(engine, sam.id) == (allow, domain)
    store.remove_rule(engine, domain.id or 0)
    assert store.list_rules(engine) == (allow,)


def test_schedules_round_trip(engine: Engine, sam: Child) -> None:
    bed = store.add_schedule(
        engine, sam.id, "Bedtime", [6, 0], time(21), time(7), block_all=True,
        allow=["Homework.Example"],
    )  # fmt: skip
    school = store.add_schedule(
        engine, sam.id, "School", range(5), time(9), time(15, 30), block=["Gaming", "tiktok"]
    )
    assert bed.days == {0, 6} and bed.start == time(21) and bed.end == time(7)
    assert bed.block_all and bed.allow == ("homework.example",)
    assert school.block == {"gaming", "tiktok"} and not school.block_all
    assert store.list_schedules(engine, sam.id) == (bed, school)
    with pytest.raises(HouseholdError, match="already has a schedule called Bedtime"):
        store.add_schedule(engine, sam.id, "bedtime", [1], time(20), time(6), block_all=True)
    store.remove_schedule(engine, bed.id)
    assert store.list_schedules(engine) == (school,)


def test_pauses_are_timezone_aware_and_replace_each_other(engine: Engine, sam: Child) -> None:
    london = ZoneInfo("Europe/London")
    first = store.pause(engine, datetime(2026, 7, 1, 19, 30, tzinfo=london), child_id=sam.id)
    assert first.until == datetime(2026, 7, 1, 18, 30, tzinfo=UTC)  # BST is UTC+1
    later = store.pause(engine, datetime(2026, 7, 1, 20, 0, tzinfo=london), child_id=sam.id)
    assert store.list_pauses(engine) == (later,)
    assert store.load_household(engine).rules_for(sam.id).paused_until == later.until
    assert store.resume(engine, child_id=sam.id) is True
    assert store.resume(engine, child_id=sam.id) is False
    assert store.load_household(engine).rules_for(sam.id).paused_until is None


def test_record_seen_adds_unknown_devices_and_updates_known_ones(
    engine: Engine, sam: Child
) -> None:
    phone = store.add_device(engine, mac="aa:bb:cc:dd:ee:01", owner="child", child_id=sam.id)
    by_ip = store.add_device(engine, ip="192.168.1.30", name="TV", owner="shared")
    version = store.household_version(engine)
    new = store.record_seen(
        engine,
        {
            "192.168.1.20": ("AA:BB:CC:DD:EE:01", T0.timestamp()),  # known by MAC: gets its IP
            "192.168.1.30": ("aa:bb:cc:dd:ee:30", T0.timestamp()),  # registered by IP: waits
            "192.168.1.40": ("aa:bb:cc:dd:ee:40", T0.timestamp()),  # new
            "192.168.1.41": (None, T0.timestamp()),  # new, no MAC visible
            "127.0.0.1": (None, T0.timestamp()),  # the box itself: ignored
            "nonsense": (None, T0.timestamp()),
        },
    )
    assert new.skipped == 0 and new.clashes == ()
    new = new.added
    assert [(d.ip, d.mac, d.owner) for d in new] == [
        ("192.168.1.40", "aa:bb:cc:dd:ee:40", "unassigned"),
        ("192.168.1.41", None, "unassigned"),
    ]
    assert new[0].first_seen == new[0].last_seen == T0
    devices = {d.id: d for d in store.list_devices(engine)}
    assert devices[phone.id].ip == "192.168.1.20" and devices[phone.id].last_seen == T0
    # a MAC seen at a device a parent registered by IP is not bound until the parent says so
    assert devices[by_ip.id].mac is None and devices[by_ip.id].pending_mac == "aa:bb:cc:dd:ee:30"
    assert len(devices) == 4
    assert store.household_version(engine) == version + 1  # one transaction, one bump

    # Later: only last_seen moves, which is not a household change.
    later = T0 + timedelta(minutes=5)
    again = store.record_seen(engine, {"192.168.1.20": ("aa:bb:cc:dd:ee:01", later.timestamp())})
    assert again.added == ()
    assert store.household_version(engine) == version + 1
    assert store.list_devices(engine)[0].last_seen == later
    assert store.list_devices(engine)[0].first_seen == T0

    # The laptop-that-was-unknown takes over the phone's address: the phone loses it.
    store.record_seen(engine, {"192.168.1.20": ("aa:bb:cc:dd:ee:40", later.timestamp())})
    devices = {d.id: d for d in store.list_devices(engine)}
    assert devices[phone.id].ip is None and devices[new[0].id].ip == "192.168.1.20"
    assert store.household_version(engine) == version + 2


def test_record_seen_keeps_a_devices_ipv4_address(engine: Engine) -> None:
    mac, ts = "aa:bb:cc:dd:ee:01", T0.timestamp()
    store.record_seen(engine, {"192.168.1.20": (mac, ts), "fd00::1234": (mac, ts)})
    (device,) = store.list_devices(engine)
    assert device.ip == "192.168.1.20"


def test_merge_devices_moves_references_and_keeps_the_older_first_seen(
    engine: Engine, sam: Child
) -> None:
    old_mac, new_mac = "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"
    store.record_seen(engine, {"192.168.1.20": (old_mac, T0.timestamp())})
    later = T0 + timedelta(days=30)
    store.record_seen(engine, {"192.168.1.21": (new_mac, later.timestamp())})
    old, new = store.list_devices(engine)
    store.update_device(engine, old.id, name="Sam's phone", owner="child", child_id=sam.id)
    store.pause(engine, later + timedelta(hours=1), device_id=new.id)
    with Session(engine) as session:  # the query log names the new device by its MAC
        row = QueryLogRow(ts=later.timestamp(), client="192.168.1.21", device=new_mac,
                          name="example.com", qtype="A", action="allow")  # fmt: skip
        session.add(row)
        session.commit()
    merged = store.merge_devices(engine, old.id, new.id)
    assert (merged.id, merged.name, merged.owner, merged.child_id) == (
        old.id, "Sam's phone", "child", sam.id,
    )  # fmt: skip
    assert (merged.mac, merged.ip) == (new_mac, "192.168.1.21")  # the address seen last
    assert (merged.first_seen, merged.last_seen) == (T0, later)
    assert [d.id for d in store.list_devices(engine)] == [old.id]
    assert store.list_pauses(engine)[0].device_id == old.id
    with Session(engine) as session:
        assert session.exec(select(QueryLogRow.device)).one() == str(old.id)
    household = store.load_household(engine)
    assert household.device_for("10.0.0.1", new_mac).id == old.id  # type: ignore[union-attr]


def test_load_household_is_one_snapshot(engine: Engine, sam: Child) -> None:
    alex = store.add_child(engine, "Alex", date(2018, 1, 20))
    store.add_device(
        engine, mac="aa:bb:cc:dd:ee:01", ip="192.168.1.20", owner="child", child_id=sam.id
    )
    store.add_device(engine, ip="192.168.1.30", owner="shared", shared_with=[sam.id, alex.id])
    store.add_rule(engine, sam.id, "allow", "domain", "bbc.co.uk")
    store.add_schedule(engine, sam.id, "Bed", [0], time(21), time(7), block_all=True)
    household = store.load_household(engine)
    assert household.version == store.household_version(engine)
    assert household.child_by_name["alex"] == alex
    assert household.youngest == alex
    tv = household.device_by_ip["192.168.1.30"]
    assert household.whose_rules(tv, "youngest") == (alex, False)
    assert household.rules_for(sam.id).allow_domains == {"bbc.co.uk"}
    assert household.rules_for(sam.id).schedules[0].name == "Bed"


# -- putting mistakes right ---------------------------------------------------------------------

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize("born", [date(1900, 1, 1), date(2008, 11, 23), date(1980, 6, 1)])
def test_a_child_is_under_18_when_added(engine: Engine, born: date) -> None:
    with pytest.raises(store.NeedsConfirmation, match="under-18 protections would stop"):
        store.add_child(engine, "Gran", born, today=TODAY)
    assert store.list_children(engine) == ()
    assert store.add_child(engine, "Kim", date(2008, 11, 24), today=TODAY).name == "Kim"  # 17


def test_a_birth_date_that_makes_an_adult_needs_confirming(engine: Engine, sam: Child) -> None:
    version = store.household_version(engine)
    with pytest.raises(store.NeedsConfirmation):
        store.update_child(engine, sam.id, born=date(2001, 1, 1), today=TODAY)
    assert store.household_version(engine) == version and store.list_children(engine) == (sam,)
    moved = store.update_child(engine, sam.id, born=date(2001, 1, 1), today=TODAY, adult_ok=True)
    assert moved.born == date(2001, 1, 1) and store.household_version(engine) == version + 1
    fixed = store.update_child(engine, sam.id, born=date(2015, 2, 1), today=TODAY)
    assert fixed.age_on(TODAY) == 11


def test_a_child_renamed_keeps_everything(engine: Engine, sam: Child) -> None:
    store.add_rule(engine, sam.id, "block", "app", "roblox")
    alex = store.add_child(engine, "Alex", date(2017, 1, 1), today=TODAY)
    with pytest.raises(HouseholdError, match="already a child called Alex"):
        store.update_child(engine, sam.id, name="ALEX")
    renamed = store.update_child(engine, sam.id, name="  Samuel  ")
    assert renamed.name == "Samuel" and store.get_child_by_name(engine, "samuel") == renamed
    assert store.update_child(engine, alex.id, name="alex").name == "alex"  # own name, new case
    assert [r.value for r in store.list_rules(engine, sam.id)] == ["roblox"]


def test_removing_a_child_takes_their_data_and_unassigns_devices(engine: Engine, sam: Child):
    from agent.household import requests
    from agent.store import overlays

    alex = store.add_child(engine, "Alex", date(2017, 1, 1), today=TODAY)
    phone = store.add_device(engine, ip="192.168.1.10", owner="child", child_id=sam.id)
    tv = store.add_device(engine, ip="192.168.1.30", owner="shared", shared_with=[sam.id, alex.id])
    store.add_rule(engine, sam.id, "block", "app", "roblox")
    bedtime = store.add_schedule(
        engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True
    )  # noqa: E501
    store.add_schedule(engine, alex.id, "Bedtime", range(7), time(20), time(7), block_all=True)
    now = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    store.pause(engine, now + timedelta(hours=1), child_id=sam.id)
    overlays.add_overlay(
        engine, sam.id, "more_time", now + timedelta(hours=2), now, schedule_id=bedtime.id
    )  # noqa: E501
    requests.add_request(engine, sam.id, "more_time", now, minutes=30)
    removed = store.remove_child(engine, sam.id)
    assert (removed.name, removed.rules, removed.schedules, removed.devices_unassigned) == (
        "Sam", 1, 1, 1,
    )  # fmt: skip
    assert store.list_children(engine) == (alex,)
    household = store.load_household(engine)
    assert [s.child_id for s in household.schedules] == [alex.id]
    assert household.rules == () and household.pauses == () and household.overlays == ()
    assert requests.list_requests(engine) == []
    devices = {d.id: d for d in household.devices}
    assert (devices[phone.id].owner, devices[phone.id].child_id) == ("unassigned", None)
    assert devices[tv.id].shared_with == {alex.id}


def test_equal_start_and_end_is_all_day_only_when_said(engine: Engine, sam: Child) -> None:
    with pytest.raises(HouseholdError, match="from 19:00 to 19:00 would be on all day"):
        store.add_schedule(engine, sam.id, "Bedtime", range(7), time(19), time(19), block_all=True)
    assert store.list_schedules(engine) == ()
    sunday = store.add_schedule(
        engine, sam.id, "Sunday", [6], time(19), time(19), block=["gaming"], all_day=True
    )
    assert (sunday.start, sunday.end) == (time(0), time(0))
    assert sunday.covers(6, time(0)) and sunday.covers(6, time(23, 59))
    assert not sunday.covers(0, time(0)) and not sunday.covers(5, time(23, 59))


def test_a_schedule_edited_in_place(engine: Engine, sam: Child) -> None:
    bedtime = store.add_schedule(
        engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True
    )  # noqa: E501
    store.add_schedule(engine, sam.id, "School", range(5), time(9), time(15), block=["gaming"])
    version = store.household_version(engine)
    edited = store.update_schedule(
        engine, bedtime.id, "Bedtime", range(5), time(20, 30), time(7), block_all=True
    )
    assert edited.id == bedtime.id and edited.days == frozenset(range(5))
    assert edited.start == time(20, 30) and store.household_version(engine) == version + 1
    with pytest.raises(HouseholdError, match="already has a schedule called School"):
        store.update_schedule(
            engine, bedtime.id, "school", range(5), time(20), time(7), block_all=True
        )  # noqa: E501
    with pytest.raises(HouseholdError, match="would be on all day"):
        store.update_schedule(
            engine, bedtime.id, "Bedtime", range(5), time(7), time(7), block_all=True
        )  # noqa: E501
    with pytest.raises(HouseholdError, match="no schedule with id 99"):
        store.update_schedule(engine, 99, "X", range(5), time(7), time(8), block_all=True)
    assert store.list_schedules(engine, sam.id)[0] == edited


def test_removing_a_schedule_removes_the_more_time_on_it(engine: Engine, sam: Child) -> None:
    from agent.store import overlays

    bedtime = store.add_schedule(
        engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True
    )  # noqa: E501
    now = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    overlays.add_overlay(
        engine, sam.id, "more_time", now + timedelta(hours=1), now, schedule_id=bedtime.id
    )  # noqa: E501
    store.remove_schedule(engine, bedtime.id)
    assert overlays.list_overlays(engine) == []


def test_a_mac_at_a_registered_ip_waits_for_a_parent_and_others_there_clash(
    engine: Engine, sam: Child
) -> None:
    """A child who takes Mum's laptop's IP before the laptop is first seen must not be bound
    to it for good; whoever else answers there is reported and gets the unknown-device rules."""
    laptop = store.add_device(engine, ip="192.168.1.50", name="Mum's laptop", owner="adult")
    phone = store.add_device(engine, mac="aa:bb:cc:dd:ee:07", owner="child", child_id=sam.id)
    ts, child_mac, laptop_mac = T0.timestamp(), "aa:bb:cc:dd:ee:66", "aa:bb:cc:dd:ee:50"
    version = store.household_version(engine)
    first = store.record_seen(engine, {"192.168.1.50": (child_mac, ts)})
    assert first.added == () and first.clashes == ()
    assert store.household_version(engine) == version + 1  # the rules read the waiting MAC
    home = store.load_household(engine)
    waiting = home.device_by_id[laptop.id]
    assert (waiting.mac, waiting.pending_mac, waiting.ip) == (None, child_mac, "192.168.1.50")
    assert home.device_for("192.168.1.60", child_mac) is None  # not bound: no adult rules there

    # The real laptop answers at its own address from another MAC: a clash, and a newcomer.
    second = store.record_seen(engine, {"192.168.1.50": (laptop_mac, ts + 60)})
    (clash,) = second.clashes
    assert (clash.device.id, clash.ip, clash.mac) == (laptop.id, "192.168.1.50", laptop_mac)
    (newcomer,) = second.added
    assert (newcomer.mac, newcomer.ip, newcomer.owner) == (laptop_mac, None, "unassigned")
    home = store.load_household(engine)
    assert home.device_by_ip["192.168.1.50"].id == laptop.id  # the registration stays
    assert home.device_for("192.168.1.50", laptop_mac).owner == "unassigned"

    # The waiting MAC at a second IP, and a known child device at the registered IP: clashes.
    third = store.record_seen(
        engine,
        {
            "192.168.1.61": (child_mac, ts + 120),
            "fd00::66": (child_mac, ts + 120),  # the same device's IPv6 address: no clash
            "192.168.1.50": ("aa:bb:cc:dd:ee:07", ts + 120),
        },
    )
    assert sorted((c.ip, c.mac) for c in third.clashes) == [
        ("192.168.1.50", "aa:bb:cc:dd:ee:07"),
        ("192.168.1.61", child_mac),
    ]
    assert third.added == ()
    devices = {d.id: d for d in store.list_devices(engine)}
    assert devices[laptop.id].ip == "192.168.1.50" and devices[phone.id].ip is None

    # The parent says which MAC is the laptop's: the newcomer row folds into it.
    confirmed = store.confirm_mac(engine, laptop.id, laptop_mac)
    assert (confirmed.mac, confirmed.pending_mac) == (laptop_mac, None)
    home = store.load_household(engine)
    assert home.device_for("10.0.0.9", laptop_mac).id == laptop.id  # known wherever it goes
    assert newcomer.id not in home.device_by_id
    assert home.device_for("192.168.1.50", child_mac) is None


def test_confirming_a_mac_that_belongs_to_someone_is_refused(engine: Engine, sam: Child) -> None:
    laptop = store.add_device(engine, ip="192.168.1.50", name="Mum's laptop", owner="adult")
    store.add_device(engine, mac="aa:bb:cc:dd:ee:07", name="Sam's phone", owner="child",
                     child_id=sam.id)  # fmt: skip
    with pytest.raises(HouseholdError, match="already belongs to Sam's phone"):
        store.confirm_mac(engine, laptop.id, "aa:bb:cc:dd:ee:07")


def test_record_seen_takes_in_at_most_max_new_devices(engine: Engine, sam: Child) -> None:
    phone = store.add_device(engine, mac="aa:bb:cc:dd:ee:07", owner="child", child_id=sam.id)
    seen = {f"10.1.{i // 250}.{i % 250 + 1}": (None, T0.timestamp()) for i in range(300)}
    seen["192.168.1.7"] = ("aa:bb:cc:dd:ee:07", T0.timestamp())
    found = store.record_seen(engine, seen, max_new=5)
    assert (len(found.added), found.skipped) == (5, 300 - 5)
    devices = store.list_devices(engine)
    assert len(devices) == 6
    assert {d.id: d for d in devices}[phone.id].last_seen == T0  # known ones still noted


def test_removing_a_device_takes_its_pauses_with_it(engine: Engine, sam: Child) -> None:
    tablet = store.add_device(engine, ip="192.168.1.20", owner="child", child_id=sam.id)
    store.pause(engine, T0 + timedelta(hours=1), device_id=tablet.id)
    version = store.household_version(engine)
    assert store.remove_device(engine, tablet.id).id == tablet.id
    assert store.list_devices(engine) == () and store.list_pauses(engine) == ()
    assert store.household_version(engine) == version + 1
    with pytest.raises(HouseholdError, match="no device with id"):
        store.remove_device(engine, tablet.id)


def test_devices_page_puts_unassigned_first_then_the_most_recent(
    engine: Engine, sam: Child
) -> None:
    seen = {f"10.0.0.{i}": (None, T0.timestamp() + i) for i in range(1, 8)}
    store.record_seen(engine, seen)
    store.update_device(engine, 7, owner="child", child_id=sam.id)
    page, total = store.devices_page(engine, offset=0, limit=3)
    assert total == 7 and [d.ip for d in page] == ["10.0.0.6", "10.0.0.5", "10.0.0.4"]
    page, _ = store.devices_page(engine, offset=6, limit=3)
    assert [d.ip for d in page] == ["10.0.0.7"]


def test_schedule_fields_beyond_the_checked_ones_pass_through_but_never_the_checked_ones(
    engine: Engine, sam: Child
) -> None:
    """A new schedule field needs its dataclass field, its column and a migration: add_schedule
    and update_schedule pass further fields through; they never let one skip the checks."""
    made = store.add_schedule(engine, sam.id, "Homework", [0], time(16), time(18), block_all=True)
    for bad in ({"child_id": 99}, {"id": 7}, {"colour": "red"}):
        with pytest.raises(store.HouseholdError, match="has no field"):
            store.update_schedule(
                engine, made.id, "Homework", [0], time(16), time(18), block_all=True, **bad
            )
    assert store.list_schedules(engine, sam.id) == (made,)
