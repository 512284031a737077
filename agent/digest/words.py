"""Events, requests and durations in a carer's words: calm, short, never blaming the child."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import tzinfo

from agent.digest.model import BudgetWeek, Item, Request
from agent.events import Event
from agent.events.registry import describe_for_email
from agent.events.words import duration
from agent.rules.catalog import Catalog

FLAG_WORDS = {
    "chat_with_strangers": "chat with strangers",
    "video_chat": "video calls",
    "live_streaming": "live streaming",
    "disappearing_messages": "disappearing messages",
    "location_sharing": "sharing their location",
    "anonymous": "anonymous posting",
}


class Sayer:
    """Names apps and devices, and dates an event, for one digest or email."""

    def __init__(self, tz: tzinfo, devices: dict[str, str], catalog: Catalog | None) -> None:
        self.tz, self.devices, self.catalog = tz, devices, catalog

    def app_name(self, app_id: str) -> str:
        app = self.catalog.get(app_id) if self.catalog is not None else None
        return app.name if app is not None else app_id

    def dated(self, e: Event) -> Item:
        if e.app and "app_name" not in e.details:  # the event words name apps by it
            e = replace(e, details={**e.details, "app_name": self.app_name(e.app)})
        return Item(f"{e.time.astimezone(self.tz):%a}: {event_words(e, self.tz, self.devices)}")


def event_words(e: Event, tz: tzinfo, devices: dict[str, str] | None = None) -> str:
    """An event in a carer's words (the registry's email words for the kind)."""
    return describe_for_email(e, tz, devices)


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


def times(n: int) -> str:
    return {0: "never", 1: "once", 2: "twice"}.get(n, f"{n} times")


def budget_line(b: BudgetWeek) -> str:
    """ "Gaming: the whole hour on 4 days of 7; asked for more twice, you said yes once"."""
    line = f"{b.title}: the whole {b.allowance} on {b.full_days} days of {b.days}"
    if b.full_days == 1:
        line = f"{b.title}: the whole {b.allowance} on 1 day of {b.days}"
    if b.asked:
        line += f"; asked for more {times(b.asked)}, you said yes {times(b.yes)}"
    return line
