"""What an extractor reads out of a service's response: contacts, and how to take them.

An extractor is one module per service (`roblox`, `discord`) with three names: `SERVICE` (the
app catalogue's id), `wants(host, path)` (is this response one it knows?) and
`extract(url, body)`, which is pure: the URL and the response body in, an `Extraction` out.
A body that is not the documented shape raises `Unparseable`; the addon counts it and lets the
response through untouched, so a changed API never breaks a child's app.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from agent.events.contacts import Contact, ContactKind

__all__ = ["Contact", "ContactKind", "Extraction", "Extractor", "Unparseable"]


@dataclass(frozen=True, slots=True)
class Extraction:
    contacts: tuple[Contact, ...] = ()
    # A whole list (all friends, all conversations): the first time it is seen for a child it
    # is their history, recorded without alerts; later additions are news. None: every
    # contact in it is news (a friend request, a conversation just started).
    listing: str | None = None
    owner: str | None = None  # whose list it is, when the URL names an account
    signed_in: str | None = None  # the account the device is signed in as (not a contact)


class Unparseable(ValueError):
    """The response is not the shape the service documents."""


class Extractor(Protocol):
    SERVICE: str

    def wants(self, host: str, path: str) -> bool: ...

    def extract(self, url: str, body: bytes) -> Extraction: ...


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise Unparseable(f"not JSON: {exc}") from None


def text_or_none(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def account_id(value: Any) -> str:
    """A service's numeric or snowflake id, as text; Unparseable if it is neither."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise Unparseable(f"not an account id: {value!r}")
    return str(value)
