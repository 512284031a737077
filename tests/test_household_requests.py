"""Children's requests on a real SQLite file: asking records an alert; approving "unblock" makes
an allow rule or a timed overlay; approving "more time" holds the schedules on in that time off
with overlays, and never takes a schedule out."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from agent.events import EventKind, Severity
from agent.household import requests
from agent.household.requests import RequestError
from agent.rules.household import Child
from agent.store import household as store
from agent.store import overlays
from agent.store.db import init_db, make_engine
from agent.store.events import list_events, unacknowledged_alerts

TZ = ZoneInfo("Europe/London")
EVENING = datetime(2026, 11, 18, 20, 25, tzinfo=TZ)  # a Wednesday, five minutes before bed


@pytest.fixture
def engine(store_url: str) -> Engine:
    eng = make_engine(store_url)
    init_db(eng)
    return eng


@pytest.fixture
def sam(engine: Engine) -> Child:
    child = store.add_child(engine, "Sam", date(2015, 3, 1))
    store.add_schedule(engine, child.id, "Bedtime", range(7), time(20, 30), time(7), block_all=True)
    store.add_schedule(engine, child.id, "School", range(5), time(9), time(15), block=["gaming"])
    return child


def names(engine: Engine, child: Child) -> list[str]:
    return sorted(s.name for s in store.list_schedules(engine, child.id))


def test_asking_records_the_request_and_an_alert(engine: Engine, sam: Child) -> None:
    asked = requests.add_request(
        engine,
        sam.id,
        "more_time",
        EVENING,
        device="aa:bb:cc:dd:ee:ff",
        minutes=30,
        message="  one more\x07 level  ",
    )
    assert asked.pending and asked.child == "Sam" and asked.message == "one more level"
    (event,) = list_events(engine)
    assert event.kind == EventKind.CHILD_REQUEST and event.severity == Severity.ALERT
    assert event.child == "Sam" and event.device == "aa:bb:cc:dd:ee:ff"
    assert event.details == {
        "request_id": asked.id,
        "request": "more_time",
        "message": "one more level",
        "minutes": 30,
    }
    # Asking again before anyone answers is the same request, not a second alert.
    assert requests.add_request(engine, sam.id, "more_time", EVENING, minutes=60).id == asked.id
    assert len(list_events(engine)) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "pony"}, "more time or to unblock"),
        ({"kind": "unblock"}, "which app or website"),
        ({"kind": "unblock", "site": "not a site"}, "not a website address"),
        ({"kind": "more_time", "minutes": 1000}, "5 to 240 minutes"),
        ({"kind": "more_time", "child_id": 99}, "no child with id 99"),
    ],
)
def test_requests_that_cannot_be_made(engine: Engine, sam: Child, kwargs, message) -> None:
    args = {"child_id": sam.id} | kwargs
    with pytest.raises(RequestError, match=message):
        requests.add_request(engine, args.pop("child_id"), args.pop("kind"), EVENING, **args)


def test_a_child_cannot_flood_a_parent(engine: Engine, sam: Child) -> None:
    for i in range(requests.MAX_PER_HOUR):
        requests.add_request(engine, sam.id, "unblock", EVENING, site=f"site{i}.example")
    with pytest.raises(RequestError, match="asked a lot"):
        requests.add_request(engine, sam.id, "unblock", EVENING, site="one-more.example")
    later = EVENING + timedelta(hours=1, minutes=1)
    requests.add_request(engine, sam.id, "unblock", later, site="one-more.example")


def test_approving_an_unblock_adds_an_allow_rule_and_acknowledges(engine: Engine, sam: Child):
    asked = requests.add_request(engine, sam.id, "unblock", EVENING, app="tiktok")
    done = requests.decide_request(engine, asked.id, True, None, EVENING + timedelta(minutes=3))
    assert done.status == "approved" and "tiktok is allowed for Sam" in done.outcome
    (rule,) = store.list_rules(engine, sam.id)
    assert (rule.verb, rule.kind, rule.value) == ("allow", "app", "tiktok")
    assert unacknowledged_alerts(engine) == []
    with pytest.raises(RequestError, match="already been answered"):
        requests.decide_request(engine, asked.id, False, None, EVENING)


def test_a_site_unblock_allows_the_domain(engine: Engine, sam: Child) -> None:
    asked = requests.add_request(engine, sam.id, "unblock", EVENING, site="Example.COM")
    requests.decide_request(engine, asked.id, True, None, EVENING)
    (rule,) = store.list_rules(engine, sam.id)
    assert (rule.kind, rule.value) == ("domain", "example.com")


def test_declining_changes_nothing(engine: Engine, sam: Child) -> None:
    asked = requests.add_request(engine, sam.id, "more_time", EVENING, minutes=30)
    version = store.household_version(engine)
    done = requests.decide_request(engine, asked.id, False, None, EVENING)
    assert done.status == "declined" and store.household_version(engine) == version
    assert unacknowledged_alerts(engine) == []


def test_more_time_holds_off_what_would_start_in_that_time_and_keeps_it(engine, sam) -> None:
    store.pause(engine, EVENING + timedelta(hours=1), child_id=sam.id)
    asked = requests.add_request(engine, sam.id, "more_time", EVENING, minutes=30)
    before = store.list_schedules(engine, sam.id)
    done = requests.decide_request(engine, asked.id, True, None, EVENING)  # the child's 30
    assert done.minutes == 30
    assert done.outcome == "Sam: the pause ended; Bedtime is off until 20:55"
    assert store.list_pauses(engine) == ()
    assert store.list_schedules(engine, sam.id) == before  # nothing taken out, ever
    (held,) = overlays.list_overlays(engine, sam.id, running_at=EVENING)
    bedtime = next(s for s in before if s.name == "Bedtime")
    assert (held.kind, held.schedule_id, held.request_id) == ("more_time", bedtime.id, asked.id)
    assert held.until == EVENING + timedelta(minutes=30)
    assert overlays.list_overlays(engine, sam.id, running_at=held.until) == []


def test_more_time_when_nothing_is_off(engine: Engine, sam: Child) -> None:
    afternoon = datetime(2026, 11, 18, 16, 0, tzinfo=TZ)
    asked = requests.add_request(engine, sam.id, "more_time", afternoon, minutes=15)
    done = requests.decide_request(engine, asked.id, True, 15, afternoon)
    assert done.outcome == "Nothing was stopping Sam's internet for the next 15 minutes"
    assert overlays.list_overlays(engine) == [] and names(engine, sam) == ["Bedtime", "School"]


@pytest.mark.parametrize(
    ("choice", "until"),
    [
        ("15m", EVENING + timedelta(minutes=15)),
        ("1h", EVENING + timedelta(hours=1)),
        ("today", datetime(2026, 11, 19, 0, 0, tzinfo=TZ)),
    ],
)
def test_a_timed_unblock_is_an_overlay_not_a_rule(engine, sam, choice, until) -> None:
    asked = requests.add_request(engine, sam.id, "unblock", EVENING, app="tiktok")
    done = requests.decide_request(engine, asked.id, True, None, EVENING, unblock_for=choice)
    assert store.list_rules(engine, sam.id) == ()
    (given,) = overlays.list_overlays(engine, sam.id)
    assert (given.kind, given.target_kind, given.target) == ("unblock", "app", "tiktok")
    assert given.until == until and "end it early" in done.outcome


def test_an_unblock_for_an_unknown_length_is_refused(engine, sam) -> None:
    asked = requests.add_request(engine, sam.id, "unblock", EVENING, app="tiktok")
    with pytest.raises(RequestError, match="15m, 1h, today, always"):
        requests.decide_request(engine, asked.id, True, None, EVENING, unblock_for="forever")
    assert requests.get_request(engine, asked.id).pending


def test_approving_more_time_needs_minutes(engine: Engine, sam: Child) -> None:
    asked = requests.add_request(engine, sam.id, "more_time", EVENING)
    with pytest.raises(RequestError, match="5 to 240 minutes"):
        requests.decide_request(engine, asked.id, True, None, EVENING)
    with pytest.raises(RequestError, match="no request number 99"):
        requests.decide_request(engine, 99, True, 30, EVENING)


def test_list_requests_filters(engine: Engine, sam: Child) -> None:
    alex = store.add_child(engine, "Alex", date(2018, 1, 1))
    first = requests.add_request(engine, sam.id, "unblock", EVENING, app="roblox")
    second = requests.add_request(engine, alex.id, "more_time", EVENING + timedelta(minutes=1))
    requests.decide_request(engine, first.id, False, None, EVENING)
    assert [r.id for r in requests.list_requests(engine)] == [second.id, first.id]
    assert [r.id for r in requests.list_requests(engine, "sam")] == [first.id]
    assert [r.id for r in requests.list_requests(engine, alex.id)] == [second.id]
    assert [r.id for r in requests.list_requests(engine, status="pending")] == [second.id]
    since = EVENING + timedelta(seconds=30)
    assert [r.id for r in requests.list_requests(engine, since=since)] == [second.id]
