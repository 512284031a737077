"""Discord's DM channel list, in the shapes Discord documents, read from mitmproxy flows."""

from __future__ import annotations

import pytest

from agent.proxy.contacts import ContactKind, Unparseable, discord, extractor_for

from proxytools import flow, json_body

URL = "https://discord.com/api/v9/users/@me/channels"
DM = {
    "id": "1100000000000000001",
    "type": 1,
    "last_message_id": "1100000000000000099",
    "flags": 0,
    "recipients": [
        {"id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
         "avatar": "8342729096ea3675442027381ff50dfe", "discriminator": "0",
         "public_flags": 64}
    ],
}  # fmt: skip
GROUP = {
    "id": "1100000000000000002",
    "type": 3,
    "name": None,
    "owner_id": "80351110224678912",
    "recipients": [
        {"id": "80351110224678912", "username": "nelly", "global_name": "Nelly"},
        {"id": "80351110224678913", "username": "max_k", "global_name": None},
    ],
}
VOICE = {"id": "1100000000000000003", "type": 2, "recipients": []}  # not a DM: ignored


def read(data: object, method: str = "GET") -> discord.Extraction:
    f = flow(URL, method=method, response=json_body(data))
    extractor = extractor_for(f.request.pretty_host, f.request.path)
    assert extractor is discord
    return extractor.extract(f.request.pretty_url, f.response.content)


def test_the_channel_list_is_a_listing_of_people_and_groups():
    found = read([DM, GROUP, VOICE])
    assert found.listing == "discord:channels"
    assert [(c.account, c.kind, c.handle, c.label) for c in found.contacts] == [
        ("80351110224678912", ContactKind.DM, "nelly", "Nelly (@nelly)"),
        ("group:1100000000000000002", ContactKind.GROUP, None, "Nelly, max_k"),
    ]


def test_a_conversation_just_opened_is_news():
    found = read(DM, method="POST")
    assert found.listing is None
    assert [c.account for c in found.contacts] == ["80351110224678912"]


def test_a_named_group_keeps_its_name():
    (c,) = read([GROUP | {"name": "Minecraft crew"}]).contacts
    assert c.display_name == "Minecraft crew"


@pytest.mark.parametrize(
    ("host", "path", "wanted"),
    [
        ("discord.com", "/api/v9/users/@me/channels", True),
        ("discord.com", "/api/v10/users/@me/channels", True),
        ("discord.com", "/api/users/@me/channels", True),
        ("canary.discord.com", "/api/v9/users/@me/channels", True),
        ("discord.com", "/api/v9/users/@me/guilds", False),
        ("discord.com", "/api/v9/channels/1/messages", False),
        ("example.com", "/api/v9/users/@me/channels", False),
    ],
)
def test_which_responses_it_reads(host, path, wanted):
    assert discord.wants(host, path) is wanted


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        json_body({"message": "401: Unauthorized"})[:-1],
        json_body("a string"),
        json_body([{"type": 1}]),  # no recipients
        json_body([{"type": 1, "recipients": [{"username": "no id"}]}]),
        json_body([{"type": 3, "id": "x", "recipients": []}]),
    ],
)
def test_a_response_it_cannot_read_is_unparseable(body):
    with pytest.raises(Unparseable):
        discord.extract(URL, body)
