"""New contacts, read from the responses of services whose web APIs are documented.

One module per service (`roblox`, `discord`), each pure (see `base`). `extractor_for` picks the
one that knows a response; `news` turns the contacts the store has not seen before into the
events a parent reads.
"""

from __future__ import annotations

from agent.proxy.contacts import discord, roblox
from agent.proxy.contacts.base import (
    Contact,
    ContactKind,
    Extraction,
    Extractor,
    Unparseable,
)

EXTRACTORS: tuple[Extractor, ...] = (roblox, discord)

__all__ = [
    "EXTRACTORS",
    "Contact",
    "ContactKind",
    "Extraction",
    "Extractor",
    "Unparseable",
    "extractor_for",
]


def extractor_for(host: str, path: str) -> Extractor | None:
    """The extractor that knows responses from `host` at `path`, if any."""
    for extractor in EXTRACTORS:
        if extractor.wants(host, path):
            return extractor
    return None
