"""Roblox: friends and friend requests, from the web API the Roblox app and site use.

Shapes as Roblox documents them (https://friends.roblox.com/docs, https://users.roblox.com/docs):

- GET friends.roblox.com/v1/users/{userId}/friends ->
  {"data": [{"id": 1, "name": "username", "displayName": "Name", ...}]}
- GET friends.roblox.com/v1/my/friends/requests ->
  {"previousPageCursor": null, "nextPageCursor": "...",
   "data": [{"id": 1, "name": "...", "displayName": "...", "mutualFriendsList": [],
             "friendRequest": {"sentAt": "...", "senderId": 1, "sourceUniverseId": 0,
                               "originSourceType": "..."}}]}
- GET users.roblox.com/v1/users/authenticated -> {"id": 1, "name": "...", "displayName": "..."}

A friends list names its owner in the URL: anyone's list can be looked at, so only the list of
the account the device is signed in as (from /v1/users/authenticated) holds the child's friends.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from agent.proxy.contacts.base import (
    Contact,
    ContactKind,
    Extraction,
    Unparseable,
    account_id,
    load_json,
    text_or_none,
)

SERVICE = "roblox"
FRIENDS_HOST, USERS_HOST = "friends.roblox.com", "users.roblox.com"
FRIEND_REQUESTS = "/v1/my/friends/requests"
AUTHENTICATED = "/v1/users/authenticated"
LISTING = "roblox:friends"
_FRIENDS = re.compile(r"^/v1/users/(\d+)/friends/?$")


def wants(host: str, path: str) -> bool:
    if host == FRIENDS_HOST:
        return path.rstrip("/") == FRIEND_REQUESTS or _FRIENDS.match(path) is not None
    return host == USERS_HOST and path.rstrip("/") == AUTHENTICATED


def extract(url: str, body: bytes) -> Extraction:
    parts = urlsplit(url)
    path = parts.path
    data = load_json(body)
    if parts.hostname == USERS_HOST:
        if not isinstance(data, dict):
            raise Unparseable("the signed-in user is not an object")
        return Extraction(signed_in=account_id(data.get("id")))
    friends = _FRIENDS.match(path)
    kind = ContactKind.FRIEND if friends else ContactKind.FRIEND_REQUEST
    contacts = tuple(_contact(item, kind) for item in _items(data))
    if friends:
        return Extraction(contacts, listing=LISTING, owner=friends.group(1))
    return Extraction(contacts)


def _items(data: Any) -> list[Any]:
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise Unparseable('no "data" list')
    return items


def _contact(item: Any, kind: ContactKind) -> Contact:
    if not isinstance(item, dict):
        raise Unparseable("a user is not an object")
    account = account_id(item.get("id"))
    name, shown = text_or_none(item.get("name")), text_or_none(item.get("displayName"))
    return Contact(SERVICE, account, kind, name, shown)
