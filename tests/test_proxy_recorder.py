"""The writer thread: events and contacts reach a real SQLite file; a full queue drops and
counts; a first list is history, later additions are news; a missing database never raises."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.events import Event, EventKind, Severity
from agent.proxy.contacts import Contact, ContactKind
from agent.proxy.recorder import Recorder, Sighting
from agent.store import db
from agent.store.contacts import known_contacts
from agent.store.events import KeyedEvent, list_events

from proxytools import CATALOG, NOON

JO = Contact("roblox", "111", ContactKind.FRIEND, "classmate_jo", "Jo")
KIT = Contact("roblox", "222", ContactKind.FRIEND, "kit_k", "Kit")
ASH = Contact("roblox", "333", ContactKind.FRIEND_REQUEST, "ash_99", "Ash")


@pytest.fixture
def engine(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'hr.db'}")
    db.init_db(engine)
    return engine


@pytest.fixture
def recorder(engine):
    r = Recorder(lambda: engine, CATALOG, queue_size=100)
    r.start()
    yield r
    r.stop()


def sighting(*contacts: Contact, listing: str | None = None, minutes: int = 0) -> Sighting:
    when = NOON + timedelta(minutes=minutes)
    return Sighting("Sam", "02:00:00:00:00:10", "roblox", contacts, listing, when)


def test_an_event_is_written(engine, recorder):
    event = Event(NOON, EventKind.CONCERNING_SEARCH, Severity.ALERT, "Sam", "x", None, {"a": 1})
    assert recorder.event(KeyedEvent(event, "k1"))
    assert recorder.flush(5)
    (stored,) = list_events(engine, "Sam")
    assert stored.kind is EventKind.CONCERNING_SEARCH and stored.details == {"a": 1}
    assert recorder.events_written == 1


def test_a_first_friends_list_is_history_and_a_later_friend_is_news(engine, recorder):
    recorder.sighting(sighting(JO, listing="roblox:friends"))
    recorder.sighting(sighting(JO, KIT, listing="roblox:friends", minutes=5))
    assert recorder.flush(5)
    assert {k.contact.account for k in known_contacts(engine, "Sam")} == {"111", "222"}
    (event,) = list_events(engine, "Sam")
    assert event.kind is EventKind.NEW_CONTACT and event.severity is Severity.ALERT
    assert event.details["contact"] == "Kit (@kit_k)" and event.app == "roblox"


def test_a_friend_request_is_always_news(engine, recorder):
    recorder.sighting(sighting(ASH))
    recorder.sighting(sighting(ASH, minutes=1))  # seen again: no second event
    assert recorder.flush(5)
    (event,) = list_events(engine, "Sam")
    assert event.details["kind"] == "friend_request"
    assert recorder.new_contacts == 1


def test_a_full_queue_drops_and_counts_without_waiting(engine):
    r = Recorder(lambda: engine, CATALOG, queue_size=2)  # not started: nothing drains it
    assert [r.sighting(sighting(ASH)) for _ in range(4)] == [True, True, False, False]
    assert (r.accepted, r.dropped) == (2, 2)


def test_a_database_that_cannot_be_opened_counts_failures_and_carries_on(tmp_path):
    def broken():
        raise db.StoreError("hr.db", "the disk is full")

    r = Recorder(broken, CATALOG)
    r.start()
    try:
        r.sighting(sighting(ASH))
        assert r.flush(5)
        assert r.failed == 1
    finally:
        r.stop()
