"""Everything about each kind of event, declared once: its label, its words for a parent and
for a carer's email, where the weekly digest lists it, the help guide it points to, its usual
severity, and its detail fields as a typed record.

Adding a kind: a member of `EventKind`, its record and entry here (words in
`agent.events.words`), its detector, and its test. `tests/test_events_registry.py` fails for a
kind that lacks any part.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import tzinfo
from enum import StrEnum

from agent.events import details as rec
from agent.events import words as w
from agent.events.model import Event, EventKind, Severity


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
    child_page: bool = False  # listed among what happened on a child's page

    @property
    def detail_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in fields(self.details))


K = EventKind
REGISTRY: dict[EventKind, EventSpec] = {
    K.NEW_DEVICE: EventSpec(
        "New device", w.new_device, Section.BY_SEVERITY, Severity.NOTICE, rec.NewDevice
    ),
    K.FIRST_APP: EventSpec(
        "First use of an app", w.first_app, Section.NEW_THINGS, Severity.INFO, rec.FirstApp,
        child_page=True,
    ),
    K.FIRST_SITE: EventSpec(
        "First visit to a site", w.first_site, Section.NEW_THINGS, Severity.INFO, rec.FirstSite,
        child_page=True,
    ),
    K.VIDEO_CHAT: EventSpec(
        "Video call", w.video_chat, Section.VIDEO_CALLS, Severity.INFO, rec.VideoChat,
        guide="block-and-report", child_page=True,
    ),
    K.RANDOM_VIDEO_CHAT: EventSpec(
        "Random video chat", w.random_video_chat, Section.BY_SEVERITY, Severity.ALERT,
        rec.RandomVideoChat, guide="block-and-report",
    ),
    K.AGE_BLOCKED: EventSpec(
        "Blocked for age", w.age_blocked, Section.BLOCKED, Severity.NOTICE, rec.AgeBlocked
    ),
    K.BYPASS_SUSPECTED: EventSpec(
        "Possible way round the filter", w.bypass, Section.BY_SEVERITY, Severity.ALERT,
        rec.BypassSuspected,
    ),
    K.LATE_NIGHT: EventSpec(
        "Late-night use", w.late_night, Section.LATE_NIGHT, Severity.NOTICE, rec.LateNight
    ),
    K.NEW_CONTACT: EventSpec(
        "New contact", w.new_contact, Section.BY_SEVERITY, Severity.NOTICE, rec.NewContact,
        guide="block-and-report", email=w.new_contact_email,
    ),
    K.CONCERNING_SEARCH: EventSpec(
        "Worrying search", w.concerning_search, Section.BY_SEVERITY, Severity.ALERT,
        rec.ConcerningSearch, guide="child-tells-you", email=w.concerning_search_email,
    ),
    K.CHILD_REQUEST: EventSpec(
        "Your child asked", w.child_request, Section.REQUESTS, Severity.ALERT, rec.ChildRequest,
        email=w.child_request_email,
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


def in_section(section: Section) -> frozenset[EventKind]:
    return frozenset(k for k, s in REGISTRY.items() if s.section is section)


def on_child_page() -> tuple[EventKind, ...]:
    return tuple(k for k, s in REGISTRY.items() if s.child_page)
