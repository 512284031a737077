"""Everything about each kind of event, declared once: its label, its words for a parent and
for a carer's email, where the weekly digest lists it, the help guide it points to, its usual
severity, and its detail fields as a typed record.

Adding a kind touches this module (a member of `EventKind`, its detail record, its entry),
its words in `agent.events.words`, its detector, and its test; `tests/test_events_registry.py`
fails for a kind that lacks any part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import tzinfo
from enum import StrEnum
from typing import Any

from agent.events import words as w
from agent.events.model import Event, Severity


class EventKind(StrEnum):
    NEW_DEVICE = "new_device"
    FIRST_APP = "first_app"
    FIRST_SITE = "first_site"
    VIDEO_CHAT = "video_chat"
    RANDOM_VIDEO_CHAT = "random_video_chat"
    AGE_BLOCKED = "age_blocked"
    BYPASS_SUSPECTED = "bypass_suspected"
    LATE_NIGHT = "late_night"
    NEW_CONTACT = "new_contact"
    CONCERNING_SEARCH = "concerning_search"
    CHILD_REQUEST = "child_request"
    DEVICE_FLOOD = "device_flood"  # one device sent more queries than the rate limit allows
    ADDRESS_FLOOD = "address_flood"  # many new addresses at once: likely forged
    ADDRESS_CLASH = "address_clash"  # something answering at a registered device's address


# Each kind's detail fields, as a typed record: what its detector puts in `Event.details`
# (stored as JSON) and what its words may read. Every field is optional: an event stored by
# an older box may lack the newer ones.


@dataclass(frozen=True)
class AppFacts:
    app_name: str | None = None
    category: str | None = None
    flags: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NewDevice:
    ip: str | None = None
    mac: str | None = None


@dataclass(frozen=True)
class FirstApp(AppFacts):
    pass


@dataclass(frozen=True)
class FirstSite:
    site: str | None = None


@dataclass(frozen=True)
class VideoChat:
    start: str | None = None  # ISO times
    end: str | None = None
    minutes: int | None = None
    via: str | None = None
    queries: int | None = None
    site: str | None = None
    app_name: str | None = None


@dataclass(frozen=True)
class RandomVideoChat(AppFacts):
    name: str | None = None  # the name looked up
    blocked: bool | None = None
    rule: str | None = None  # the query log's text for the rule


@dataclass(frozen=True)
class AgeBlocked(AppFacts):
    rule: str | None = None
    attempts: int | None = None
    window_minutes: int | None = None
    age: int | None = None
    minimum_age: int | None = None


@dataclass(frozen=True)
class BypassSuspected:
    signal: str | None = None  # canary, private-relay, vpn-proxy, encrypted-dns, silent
    name: str | None = None
    blocked: bool | None = None
    last_dns: str | None = None  # ISO time, for "silent"
    silent_minutes: int | None = None
    device_name: str | None = None


@dataclass(frozen=True)
class LateNight(AppFacts):
    schedule: str | None = None
    window: str | None = None
    night: str | None = None
    on: str | None = None  # "app:<id>" or "site:<domain>"
    blocked: bool | None = None


@dataclass(frozen=True)
class NewContact:
    service: str | None = None
    service_name: str | None = None
    account: str | None = None
    handle: str | None = None
    display_name: str | None = None
    contact: str | None = None
    kind: str | None = None  # a ContactKind
    stranger: bool | None = None
    flags: tuple[str, ...] | None = None
    category: str | None = None


@dataclass(frozen=True)
class ConcerningSearch:
    engine: str | None = None
    engine_name: str | None = None
    terms: str | None = None
    concern: str | None = None
    concern_title: str | None = None
    phrase: str | None = None
    prompt: dict[str, Any] | None = None
    guide: dict[str, Any] | None = None
    routes: list[Any] | None = None
    sources: list[str] | None = None


@dataclass(frozen=True)
class ChildRequest:
    request_id: int | None = None
    request: str | None = None  # "unblock" | "more_time"
    message: str | None = None
    site: str | None = None
    minutes: int | None = None
    app_name: str | None = None


@dataclass(frozen=True)
class DeviceFlood:
    ip: str | None = None
    limit: int | None = None  # queries a minute allowed per device


@dataclass(frozen=True)
class AddressFlood:
    skipped: int | None = None  # new addresses not recorded one by one


@dataclass(frozen=True)
class AddressClash:
    device_id: int | None = None
    device_name: str | None = None  # the registered device whose address was used
    ip: str | None = None
    mac: str | None = None  # what answered there
    registered_ip: str | None = None


class Section(StrEnum):
    """Where the weekly digest lists a kind."""

    NEW_THINGS = "new this week"
    VIDEO_CALLS = "video calls"
    LATE_NIGHT = "late at night"
    BLOCKED = "blocked attempts"
    REQUESTS = "asked for"
    BY_SEVERITY = "by severity"  # alerts under "Alerts", notices under "Also worth knowing"


@dataclass(frozen=True)
class EventSpec:
    label: str  # short, for lists and email subjects: "Video call"
    words: w.Words  # the event in a parent's words: dashboard, command line, digest
    section: Section
    severity: Severity  # the usual one (a detector may raise or lower it for one event)
    details: type  # the typed record of its detail fields (`agent.events.details`)
    guide: str | None = None  # the help guide that fits it, besides "your child tells you"
    email: w.Words | None = None  # a carer's email words, where they differ from `words`
    dashboard: w.Words | None = None  # the alerts page's words, where they differ
    child_page: bool = False  # listed among what happened on a child's page

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.details))


K = EventKind
REGISTRY: dict[EventKind, EventSpec] = {
    K.NEW_DEVICE: EventSpec(
        "New device", w.new_device, Section.BY_SEVERITY, Severity.NOTICE, NewDevice
    ),
    K.FIRST_APP: EventSpec(
        "First use of an app", w.first_app, Section.NEW_THINGS, Severity.INFO, FirstApp,
        child_page=True,
    ),
    K.FIRST_SITE: EventSpec(
        "First visit to a site", w.first_site, Section.NEW_THINGS, Severity.INFO, FirstSite,
        child_page=True,
    ),
    K.VIDEO_CHAT: EventSpec(
        "Video call", w.video_chat, Section.VIDEO_CALLS, Severity.INFO, VideoChat,
        guide="block-and-report", child_page=True,
    ),
    K.RANDOM_VIDEO_CHAT: EventSpec(
        "Random video chat", w.random_video_chat, Section.BY_SEVERITY, Severity.ALERT,
        RandomVideoChat, guide="block-and-report",
    ),
    K.AGE_BLOCKED: EventSpec(
        "Blocked for age", w.age_blocked, Section.BLOCKED, Severity.NOTICE, AgeBlocked
    ),
    K.BYPASS_SUSPECTED: EventSpec(
        "Possible way round the filter", w.bypass, Section.BY_SEVERITY, Severity.ALERT,
        BypassSuspected,
    ),
    K.LATE_NIGHT: EventSpec(
        "Late-night use", w.late_night, Section.LATE_NIGHT, Severity.NOTICE, LateNight
    ),
    K.NEW_CONTACT: EventSpec(
        "New contact", w.new_contact, Section.BY_SEVERITY, Severity.NOTICE, NewContact,
        guide="block-and-report", email=w.new_contact_email,
    ),
    K.CONCERNING_SEARCH: EventSpec(
        "Worrying search", w.concerning_search, Section.BY_SEVERITY, Severity.ALERT,
        ConcerningSearch, guide="child-tells-you", email=w.concerning_search_email,
    ),
    K.CHILD_REQUEST: EventSpec(
        "Your child asked", w.child_request, Section.REQUESTS, Severity.ALERT, ChildRequest,
        email=w.child_request_email, dashboard=w.child_request_on_dashboard,
    ),
    K.ADDRESS_FLOOD: EventSpec(
        "Many new addresses", w.address_flood, Section.BY_SEVERITY, Severity.ALERT, AddressFlood
    ),
    K.ADDRESS_CLASH: EventSpec(
        "A device using another's address", w.address_clash, Section.BY_SEVERITY, Severity.ALERT,
        AddressClash,
    ),
    K.DEVICE_FLOOD: EventSpec(
        "A device sent too many lookups", w.device_flood, Section.BY_SEVERITY, Severity.NOTICE,
        DeviceFlood,
    ),
}  # fmt: skip


def spec(kind: EventKind | str) -> EventSpec:
    return REGISTRY[EventKind(kind)]


def label(kind: EventKind | str) -> str:
    return spec(kind).label


def describe(event: Event, tz: tzinfo, devices: Mapping[str, str] | None = None) -> str:
    """The event in a parent's words. `devices` maps device keys (MAC or IP) to names."""
    return spec(event.kind).words(event, w.Say(event, tz, devices or {}))


def describe_for_email(event: Event, tz: tzinfo, devices: Mapping[str, str] | None = None) -> str:
    """The event in a carer's email: the email words where the kind has its own."""
    found = spec(event.kind)
    words = found.email or w.for_email(found.words)
    return words(event, w.Say(event, tz, devices or {}))


def describe_for_dashboard(
    event: Event, tz: tzinfo, devices: Mapping[str, str] | None = None
) -> str:
    """The event on the dashboard's alerts page: its own words where the kind has them."""
    found = spec(event.kind)
    return (found.dashboard or found.words)(event, w.Say(event, tz, devices or {}))


def in_section(section: Section) -> frozenset[EventKind]:
    return frozenset(k for k, s in REGISTRY.items() if s.section is section)


def on_child_page() -> tuple[EventKind, ...]:
    return tuple(k for k, s in REGISTRY.items() if s.child_page)
