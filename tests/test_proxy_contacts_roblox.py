"""Roblox's friends API, in the shapes Roblox documents, read from mitmproxy flows."""

from __future__ import annotations

import pytest

from agent.proxy.contacts import ContactKind, Unparseable, extractor_for, roblox

from proxytools import flow, json_body

REQUESTS_URL = "https://friends.roblox.com/v1/my/friends/requests?limit=10&sortOrder=Desc"
FRIENDS_URL = "https://friends.roblox.com/v1/users/1692828498/friends"
ME_URL = "https://users.roblox.com/v1/users/authenticated"

FRIEND_REQUESTS = {
    "previousPageCursor": None,
    "nextPageCursor": "Mi0xMjM0",
    "data": [
        {
            "friendRequest": {
                "sentAt": "2026-11-23T11:58:02.113Z",
                "senderId": 987654321,
                "sourceUniverseId": 0,
                "originSourceType": "UserProfile",
                "contactName": None,
                "senderNickname": "",
            },
            "mutualFriendsList": [],
            "hasVerifiedBadge": False,
            "description": "",
            "created": "2025-01-02T10:00:00Z",
            "isBanned": False,
            "externalAppDisplayName": None,
            "id": 987654321,
            "name": "cool_builder_77",
            "displayName": "CoolBuilder",
        }
    ],
}
FRIENDS = {
    "data": [
        {"isOnline": False, "presenceType": 0, "isDeleted": False, "friendFrequentScore": 0,
         "friendFrequentRank": 1, "hasVerifiedBadge": False, "description": None,
         "created": "2019-04-01T00:00:00Z", "isBanned": False, "externalAppDisplayName": None,
         "id": 111, "name": "classmate_jo", "displayName": "Jo"},
        {"id": 222, "name": "", "displayName": ""},
    ]
}  # fmt: skip


def read(url: str, data: object) -> roblox.Extraction:
    f = flow(url, response=json_body(data))
    extractor = extractor_for(f.request.pretty_host, f.request.path.split("?")[0])
    assert extractor is roblox
    return extractor.extract(f.request.pretty_url, f.response.content)


def test_a_friend_request_is_news():
    found = read(REQUESTS_URL, FRIEND_REQUESTS)
    (c,) = found.contacts
    assert (c.service, c.account, c.kind) == ("roblox", "987654321", ContactKind.FRIEND_REQUEST)
    assert (c.handle, c.display_name, c.label) == (
        "cool_builder_77", "CoolBuilder", "CoolBuilder (@cool_builder_77)",
    )  # fmt: skip
    assert found.listing is None and found.owner is None


def test_a_friends_list_is_a_listing_with_its_owner():
    found = read(FRIENDS_URL, FRIENDS)
    assert [(c.account, c.kind, c.label) for c in found.contacts] == [
        ("111", ContactKind.FRIEND, "Jo (@classmate_jo)"),
        ("222", ContactKind.FRIEND, "222"),  # names withheld: the id stands in
    ]
    assert found.listing == "roblox:friends" and found.owner == "1692828498"


def test_the_signed_in_account_is_learned_not_a_contact():
    found = read(ME_URL, {"id": 1692828498, "name": "sam_plays", "displayName": "Sam"})
    assert found.signed_in == "1692828498" and found.contacts == ()


@pytest.mark.parametrize(
    ("url", "path", "wanted"),
    [
        ("friends.roblox.com", "/v1/my/friends/requests", True),
        ("friends.roblox.com", "/v1/users/5/friends", True),
        ("friends.roblox.com", "/v1/users/5/friends/count", False),
        ("friends.roblox.com", "/v1/users/abc/friends", False),
        ("users.roblox.com", "/v1/users/authenticated", True),
        ("www.roblox.com", "/v1/my/friends/requests", False),
    ],
)
def test_which_responses_it_reads(url, path, wanted):
    assert roblox.wants(url, path) is wanted


@pytest.mark.parametrize(
    "body",
    [
        b"<html>Service Unavailable</html>",  # not JSON
        json_body(FRIEND_REQUESTS)[:60],  # truncated
        json_body({"friends": []}),  # the API changed
        json_body({"data": [{"name": "no id"}]}),
        json_body({"data": ["just a name"]}),
        json_body({"data": [{"id": True}]}),
    ],
)
def test_a_response_it_cannot_read_is_unparseable(body):
    with pytest.raises(Unparseable):
        roblox.extract(REQUESTS_URL, body)
