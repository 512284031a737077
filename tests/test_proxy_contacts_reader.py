"""Reading responses for contacts: bounded, counted when skipped, lists only of the signed-in
account, and the response itself never changed."""

from __future__ import annotations

import gzip
from collections import Counter

from agent.proxy.clients import asker
from agent.proxy.contacts import discord, roblox
from agent.proxy.contacts.reader import ContactReader

from proxytools import NOON, POLICY, SAM_TABLET, build_policy, flow, json_body

SAM = asker(POLICY, SAM_TABLET)
FRIENDS = json_body({"data": [{"id": 111, "name": "jo", "displayName": "Jo"}]})


def read(reader: ContactReader, url: str, body: bytes, extractor=roblox, who=SAM):
    f = flow(url, response=body)
    return reader.read(who, extractor, f.request.pretty_url, f.response, NOON)


def test_a_dm_list_becomes_a_sighting_and_the_response_is_unchanged():
    reader = ContactReader(1024, Counter())
    body = json_body([{"id": "1", "type": 1, "recipients": [{"id": "8", "username": "nelly"}]}])
    f = flow("https://discord.com/api/v9/users/@me/channels", response=body)
    found = reader.read(SAM, discord, f.request.pretty_url, f.response, NOON)
    assert f.response.content == body
    assert (found.child, found.device, found.service) == ("Sam", SAM_TABLET, "discord")
    assert found.listing == "discord:channels" and found.when == NOON


def test_a_compressed_body_is_read_within_the_limit_after_decoding():
    counts = Counter()
    reader = ContactReader(200, counts)
    f = flow("https://friends.roblox.com/v1/my/friends/requests", response=b"")
    f.response.headers["content-encoding"] = "gzip"
    f.response.raw_content = gzip.compress(b" " * 300 + FRIENDS)  # small on the wire, big inside
    assert reader.read(SAM, roblox, f.request.pretty_url, f.response, NOON) is None
    assert counts["responses skipped: too big"] == 1


def test_a_streamed_body_is_never_read():
    counts = Counter()
    f = flow("https://friends.roblox.com/v1/my/friends/requests", response=FRIENDS)
    f.response.stream = True
    f.response.raw_content = None  # what mitmproxy leaves when a body is streamed
    assert ContactReader(1024, counts).read(SAM, roblox, "https://x", f.response, NOON) is None
    assert counts["responses skipped: too big"] == 1


def test_friends_lists_count_only_for_the_signed_in_account_per_device():
    counts = Counter()
    reader = ContactReader(1024, counts)
    mine = "https://friends.roblox.com/v1/users/555/friends"
    assert read(reader, mine, FRIENDS) is None  # not known yet whose this is
    me = json_body({"id": 555, "name": "sam_plays", "displayName": "Sam"})
    assert read(reader, "https://users.roblox.com/v1/users/authenticated", me) is None
    assert read(reader, "https://friends.roblox.com/v1/users/9/friends", FRIENDS) is None
    assert read(reader, mine, FRIENDS).contacts[0].account == "111"
    assert counts["contact lists of other accounts skipped"] == 2


def test_no_child_no_sighting():
    nobody = asker(build_policy(None), SAM_TABLET)
    reader = ContactReader(1024, Counter())
    requests = json_body({"data": [{"id": 1, "name": "a", "displayName": "A"}]})
    url = "https://friends.roblox.com/v1/my/friends/requests"
    assert read(reader, url, requests, who=nobody) is None


def test_unparseable_is_counted_per_service():
    counts = Counter()
    reader = ContactReader(1024, counts)
    read(reader, "https://friends.roblox.com/v1/my/friends/requests", b"<html>")
    assert counts == Counter({"unparseable roblox responses": 1})
