"""New contacts become events: an alert on apps where strangers can chat, else a notice."""

from __future__ import annotations

from agent.events import EventKind, Severity
from agent.proxy.contacts import Contact, ContactKind
from agent.proxy.contacts.news import new_contact_events

from proxytools import CATALOG, NOON

NELLY = Contact("discord", "80351110224678912", ContactKind.DM, "nelly", "Nelly")
JO = Contact("roblox", "111", ContactKind.FRIEND_REQUEST, "classmate_jo", "Jo")


def test_a_new_contact_on_an_app_where_strangers_chat_is_an_alert():
    (item,) = new_contact_events("Sam", "02:00:00:00:00:10", [NELLY], CATALOG.get("discord"), NOON)
    e = item.event
    assert (e.kind, e.severity, e.child, e.device, e.app) == (
        EventKind.NEW_CONTACT, Severity.ALERT, "Sam", "02:00:00:00:00:10", "discord",
    )  # fmt: skip
    assert e.details["contact"] == "Nelly (@nelly)" and e.details["kind"] == "dm"
    assert e.details["stranger"] is True and "chat_with_strangers" in e.details["flags"]
    assert e.details["service_name"] == "Discord"
    assert item.key == "new_contact:Sam:discord:80351110224678912"


def test_elsewhere_a_new_contact_is_a_notice():
    zoom = CATALOG.get("zoom")
    assert "chat_with_strangers" not in zoom.flags
    (item,) = new_contact_events("Sam", None, [JO], zoom, NOON)
    assert item.event.severity is Severity.NOTICE


def test_one_event_per_contact_keyed_so_a_second_sighting_is_the_same_event():
    first = new_contact_events("Sam", None, [JO, NELLY], None, NOON)
    again = new_contact_events("Sam", "x", [JO], None, NOON.replace(hour=18))
    assert len(first) == 2 and first[0].key == again[0].key
