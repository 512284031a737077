"""Discord: the conversations a child has, from the list of their direct-message channels.

Shapes as Discord documents them (https://discord.com/developers/docs/resources/user, "Get
User DMs" and "Create DM"; channel types in resources/channel: 1 = DM, 3 = GROUP_DM):

- GET /api/v{n}/users/@me/channels -> [channel, ...]: the whole list, every conversation
- POST /api/v{n}/users/@me/channels -> channel: a conversation just opened
- channel: {"id": "snowflake", "type": 1, "recipients": [{"id": "snowflake",
  "username": "name", "global_name": "Shown Name" | null, ...}], "name": null | "group name"}

A DM's contact is the other person; a group's is the group itself (its members are listed in
the display name, as the app shows them).
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

SERVICE = "discord"
HOSTS = frozenset({"discord.com", "discordapp.com", "ptb.discord.com", "canary.discord.com"})
LISTING = "discord:channels"
DM, GROUP_DM = 1, 3
_CHANNELS = re.compile(r"^/api(?:/v\d+)?/users/@me/channels/?$")


def wants(host: str, path: str) -> bool:
    return host in HOSTS and _CHANNELS.match(path) is not None


def extract(url: str, body: bytes) -> Extraction:
    if not _CHANNELS.match(urlsplit(url).path):
        raise Unparseable("not the DM channel list")
    data = load_json(body)
    if isinstance(data, dict):  # one conversation, just opened
        return Extraction(_contacts([data]))
    if not isinstance(data, list):
        raise Unparseable("the channel list is not a list")
    return Extraction(_contacts(data), listing=LISTING)


def _contacts(channels: list[Any]) -> tuple[Contact, ...]:
    out: list[Contact] = []
    for channel in channels:
        if not isinstance(channel, dict):
            raise Unparseable("a channel is not an object")
        kind = channel.get("type")
        people = _recipients(channel)
        if kind == DM and people:
            account, handle, shown = people[0]
            out.append(Contact(SERVICE, account, ContactKind.DM, handle, shown))
        elif kind == GROUP_DM:
            names = ", ".join(shown or handle or account for account, handle, shown in people)
            title = text_or_none(channel.get("name")) or names or None
            group = f"group:{account_id(channel.get('id'))}"
            out.append(Contact(SERVICE, group, ContactKind.GROUP, None, title))
    return tuple(out)


def _recipients(channel: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    people = channel.get("recipients")
    if not isinstance(people, list):
        raise Unparseable('a channel has no "recipients" list')
    out = []
    for person in people:
        if not isinstance(person, dict):
            raise Unparseable("a recipient is not an object")
        handle = text_or_none(person.get("username"))
        out.append((account_id(person.get("id")), handle, text_or_none(person.get("global_name"))))
    return out
