"""The extractor interface: picking the extractor for a response, and the shared pieces."""

from __future__ import annotations

import pytest

from agent.proxy.contacts import EXTRACTORS, Contact, ContactKind, Unparseable, extractor_for
from agent.proxy.contacts.base import account_id, load_json

from proxytools import CATALOG


def test_each_extractor_is_for_an_app_in_the_catalogue():
    assert {e.SERVICE for e in EXTRACTORS} == {"roblox", "discord"}
    assert all(CATALOG.get(e.SERVICE) is not None for e in EXTRACTORS)


@pytest.mark.parametrize(
    ("host", "path", "service"),
    [
        ("friends.roblox.com", "/v1/my/friends/requests", "roblox"),
        ("discord.com", "/api/v9/users/@me/channels", "discord"),
        ("www.bbc.co.uk", "/news", None),
    ],
)
def test_extractor_for(host, path, service):
    found = extractor_for(host, path)
    assert (found.SERVICE if found else None) == service


@pytest.mark.parametrize(
    ("contact", "label"),
    [
        (Contact("x", "1", ContactKind.FRIEND, "jo_k", "Jo"), "Jo (@jo_k)"),
        (Contact("x", "1", ContactKind.FRIEND, "jo", "jo"), "jo"),
        (Contact("x", "1", ContactKind.FRIEND, "jo_k", None), "jo_k"),
        (Contact("x", "1", ContactKind.FRIEND), "1"),
    ],
)
def test_a_contact_is_labelled_as_a_parent_would_recognise_them(contact, label):
    assert contact.label == label


def test_account_ids_and_json():
    assert account_id(42) == "42" and account_id("80351110224678912") == "80351110224678912"
    for bad in (True, None, "abc", -1, 1.5):
        with pytest.raises(Unparseable):
            account_id(bad)
    assert load_json(b'{"a": 1}') == {"a": 1}
    for bad in (b"\xff\xfe", b"{", b""):
        with pytest.raises(Unparseable):
            load_json(bad)
