"""Events, requests and durations in a carer's words: calm, short, never blaming the child."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import tzinfo

from agent.digest.model import Item, Request
from agent.events import Event, EventKind
from agent.insights.wording import describe
from agent.rules.catalog import Catalog

FLAG_WORDS = {
    "chat_with_strangers": "chat with strangers",
    "video_chat": "video calls",
    "live_streaming": "live streaming",
    "disappearing_messages": "disappearing messages",
    "location_sharing": "sharing their location",
    "anonymous": "anonymous posting",
}
_BACKTICKS = re.compile(r"`([^`]+)`")


class Sayer:
    """Names apps and devices, and dates an event, for one digest or email."""

    def __init__(self, tz: tzinfo, devices: dict[str, str], catalog: Catalog | None) -> None:
        self.tz, self.devices, self.catalog = tz, devices, catalog

    def app_name(self, app_id: str) -> str:
        app = self.catalog.get(app_id) if self.catalog is not None else None
        return app.name if app is not None else app_id

    def dated(self, e: Event) -> Item:
        if e.app and "app_name" not in e.details:  # the insights wording names apps by it
            e = replace(e, details={**e.details, "app_name": self.app_name(e.app)})
        return Item(f"{e.time.astimezone(self.tz):%a}: {event_words(e, self.tz, self.devices)}")


def event_words(e: Event, tz: tzinfo, devices: dict[str, str] | None = None) -> str:
    """An event in a carer's words (the insights wording, and words for the newer kinds)."""
    child = e.child or "A child"
    d = e.details
    if e.kind == EventKind.NEW_CONTACT:
        where = d.get("service_name") or e.app or "a messaging app"
        who = d.get("contact")
        text = f"{child} has a new contact on {where}" + (f": {who}." if who else ".")
        if d.get("stranger") and "chat_with_strangers" in (d.get("flags") or ()):
            text += " It is someone they had not talked to there before: worth asking who."
        return text
    if e.kind == EventKind.CHILD_REQUEST:
        return f"{child} asked for {asked(event_request(e), Sayer(tz, {}, None))}."
    if e.kind == EventKind.CONCERNING_SEARCH:
        about = d.get("concern_title") or "something worrying"
        guide = d.get("guide") or {}
        text = f"A search on {child}'s device touched on {about}."
        if guide.get("title"):
            text += f' The guide "{guide["title"]}" on the dashboard\'s Help page helps.'

        return text
    # The insights wording marks commands with backticks, for a terminal; quotes read better.
    return _BACKTICKS.sub(r'"\1"', describe(e, tz, devices))


def duration(minutes: int) -> str:
    hours, mins = divmod(int(minutes), 60)
    if not hours:
        return f"{mins} min"
    return f"{hours} h {mins:02d} min" if mins else f"{hours} h"


def event_request(e: Event) -> Request:
    d = e.details
    minutes = d.get("minutes")
    return Request(
        e.time,
        str(d.get("request", "")),
        "",
        e.app,
        d.get("site"),
        int(minutes) if minutes else None,
        str(d.get("message") or ""),
    )


def asked(r: Request, say: Sayer) -> str:
    """What the child asked for: "more time (30 min)", "to unblock Roblox: "for homework"."""
    if r.kind == "more_time":
        words = "more time" + (f" ({duration(r.minutes)})" if r.minutes else "")
    else:
        thing = say.app_name(r.app) if r.app else r.site or "a website"
        words = f"{thing} to be unblocked"
    return words + (f': "{r.message}"' if r.message else "")


def and_list(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]
