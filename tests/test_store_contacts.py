"""Contacts in a real SQLite file: new ones are returned once, lists are history at first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.proxy.contacts import Contact, ContactKind
from agent.store import contacts as store
from agent.store import db

from proxytools import NOON

JO = Contact("roblox", "111", ContactKind.FRIEND, "classmate_jo", "Jo")
KIT = Contact("roblox", "222", ContactKind.FRIEND_REQUEST, "kit_k", None)
NELLY = Contact("discord", "803", ContactKind.DM, "nelly", "Nelly")


@pytest.fixture
def engine(store_url: str):
    engine = db.make_engine(store_url)
    db.init_db(engine)
    return engine


def test_record_returns_only_the_contacts_the_child_did_not_have(engine):
    assert store.record_contacts(engine, "Sam", [JO, KIT], NOON, "02:00:00:00:00:10") == [JO, KIT]
    later = NOON + timedelta(hours=1)
    became_friend = Contact("roblox", "222", ContactKind.FRIEND, "kit_k", "Kit")
    assert store.record_contacts(engine, "Sam", [JO, became_friend, NELLY], later) == [NELLY]
    assert store.record_contacts(engine, "Alex", [JO], later) == [JO]  # per child


def test_known_contacts_newest_first_with_the_first_sighting(engine):
    store.record_contacts(engine, "Sam", [JO], NOON, "02:00:00:00:00:10")
    store.record_contacts(engine, "Sam", [NELLY, NELLY], NOON + timedelta(minutes=5))
    known = store.known_contacts(engine, "Sam")
    assert [k.contact for k in known] == [NELLY, JO]
    assert known[1].first_seen == NOON and known[1].device == "02:00:00:00:00:10"
    assert [k.contact for k in store.known_contacts(engine, "Sam", "roblox")] == [JO]
    assert store.known_contacts(engine, "Alex") == []


def test_a_listing_is_new_once_per_child(engine):
    assert store.note_listing(engine, "Sam", "roblox:friends", NOON) is True
    assert store.note_listing(engine, "Sam", "roblox:friends", NOON) is False
    assert store.note_listing(engine, "Alex", "roblox:friends", NOON) is True


def test_export_and_forget(engine):
    store.record_contacts(engine, "Sam", [JO, NELLY], NOON)
    store.note_listing(engine, "Sam", "roblox:friends", NOON)
    exported = store.contacts_for_export(engine, "Sam")
    assert [c["handle"] for c in exported] == ["classmate_jo", "nelly"]
    assert exported[0]["kind"] == "friend" and exported[0]["first_seen"].startswith("2026-11-23")
    assert store.forget_child(engine, "Sam") == 2
    assert store.known_contacts(engine, "Sam") == []
    assert store.note_listing(engine, "Sam", "roblox:friends", NOON) is True


def test_nothing_to_record(engine):
    assert store.record_contacts(engine, "Sam", [], NOON) == []
