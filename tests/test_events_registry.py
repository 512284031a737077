"""Every event kind is declared whole in `agent.events.registry`: a label, words for a parent
and for an email, a digest section, a usual severity, a typed record of its detail fields, and
a help guide that exists. A kind missing any part fails here, not in a parent's inbox.

Adding a kind: add a sample of its details to SAMPLES below (the test says so if it is
missing)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.events import Event, EventKind, Severity
from agent.events.registry import (
    REGISTRY,
    Section,
    describe,
    describe_for_dashboard,
    describe_for_email,
    in_section,
    on_child_page,
    spec,
)
from agent.talk import guides

TZ = ZoneInfo("Europe/London")
WHEN = datetime(2026, 11, 20, 19, 5, tzinfo=UTC)
APP = {"app_name": "Roblox", "category": "gaming", "flags": ["chat_with_strangers"]}
# Details as each kind's detector writes them: one sample per kind.
SAMPLES: dict[EventKind, tuple[str | None, dict]] = {
    EventKind.NEW_DEVICE: (None, {"ip": "192.168.1.40", "mac": "02:00:00:00:00:40"}),
    EventKind.DEVICE_FLOOD: (None, {"ip": "192.168.1.40", "limit": 1000}),
    EventKind.ADDRESS_FLOOD: (None, {"skipped": 199_990}),
    EventKind.ADDRESS_CLASH: (
        None,
        {"ip": "192.168.1.21", "mac": "02:00:00:00:00:66", "device_id": 3,
         "device_name": "Mum's laptop", "registered_ip": "192.168.1.21"},
    ),
    EventKind.FIRST_APP: ("roblox", APP),
    EventKind.FIRST_SITE: (None, {"site": "coolmathgames.com"}),
    EventKind.VIDEO_CHAT: ("zoom", {
        "start": "2026-11-20T19:05:00+00:00", "end": "2026-11-20T19:25:00+00:00",
        "minutes": 21, "via": "app", "queries": 40, "app_name": "Zoom",
    }),
    EventKind.RANDOM_VIDEO_CHAT: ("ometv", {
        "name": "ome.tv", "blocked": True, "rule": "age:ometv", "app_name": "OmeTV",
        "category": "random-video-chat", "flags": ["video_chat"],
    }),
    EventKind.AGE_BLOCKED: ("tiktok", {
        "rule": "age:tiktok", "attempts": 3, "window_minutes": 10, "age": 11,
        "minimum_age": 13, "app_name": "TikTok", "category": "social", "flags": [],
    }),
    EventKind.BYPASS_SUSPECTED: (None, {
        "signal": "encrypted-dns", "name": "dns.google", "blocked": True,
    }),
    EventKind.LATE_NIGHT: ("roblox", {
        "schedule": "Bedtime", "window": "21:00-07:00", "night": "2026-11-20",
        "on": "app:roblox", "blocked": True, **APP,
    }),
    EventKind.NEW_CONTACT: ("roblox", {
        "service": "roblox", "service_name": "Roblox", "account": "77",
        "handle": "builder_77", "display_name": "Builder", "contact": "Builder (@builder_77)",
        "kind": "friend_request", "stranger": True, "flags": ["chat_with_strangers"],
        "category": "gaming",
    }),
    EventKind.CONCERNING_SEARCH: (None, {
        "engine": "google", "engine_name": "Google", "terms": "how to lose weight fast",
        "concern": "eating", "concern_title": "Eating and body image", "phrase": "lose weight",
        "prompt": {"id": "p", "opener": "How are you feeling about food?", "step": "Listen."},
        "guide": {"id": "child-tells-you", "title": "When your child tells you"},
        "routes": [], "sources": [],
    }),
    EventKind.CHILD_REQUEST: ("roblox", {
        "request_id": 4, "request": "unblock", "message": "for homework", "app_name": "Roblox",
    }),
}  # fmt: skip


def sample(kind: EventKind) -> Event:
    assert kind in SAMPLES, f"add a sample of {kind}'s details to SAMPLES in this test"
    app, details = SAMPLES[kind]
    return Event(WHEN, kind, spec(kind).severity, "Sam", "02:00:00:00:00:10", app, details)


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_is_declared_whole(kind: EventKind) -> None:
    assert kind in REGISTRY, f"{kind} has no entry in agent.events.registry.REGISTRY"
    found = REGISTRY[kind]
    assert found.label.strip() and found.label != str(kind) and "_" not in found.label
    assert callable(found.words)
    assert isinstance(found.section, Section) and isinstance(found.severity, Severity)
    assert dataclasses.is_dataclass(found.details) and found.detail_fields
    assert found.guide is None or found.guide in guides.topics(), found.guide


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_kind_reads_in_plain_words(kind: EventKind) -> None:
    event = sample(kind)
    assert set(event.details) <= set(spec(kind).detail_fields), "a detail without a field"
    said = (describe(event, TZ), describe_for_email(event, TZ), describe_for_dashboard(event, TZ))
    for text in said:
        assert text.strip() and text.rstrip()[-1] in ".!?\u201d", text
        for raw in (str(kind), "None", "{", "}"):
            assert raw not in text, (raw, text)
    assert "`" not in describe_for_email(event, TZ), "an email shows no terminal markup"


def test_every_kind_has_a_place_in_the_digest() -> None:
    placed = set().union(*(in_section(s) for s in Section))
    assert placed == set(EventKind)
    assert on_child_page() == (EventKind.FIRST_APP, EventKind.FIRST_SITE, EventKind.VIDEO_CHAT)


def test_an_event_stored_by_an_older_box_still_reads() -> None:
    for kind in EventKind:
        bare = Event(WHEN, kind, Severity.INFO)
        for say in (describe, describe_for_email, describe_for_dashboard):
            assert say(bare, TZ).strip()


def test_the_store_never_imports_the_proxy() -> None:
    """Shared types (events, contacts, searches) live below both: with the optional proxy
    unimportable, the whole store still imports."""
    code = """
import importlib, pkgutil, sys

class NoProxy:
    def find_spec(self, name, path=None, target=None):
        if name == "agent.proxy" or name.startswith("agent.proxy."):
            raise ImportError("agent.proxy is blocked in this test")
        return None

sys.meta_path.insert(0, NoProxy())
import agent.store
for module in pkgutil.walk_packages(agent.store.__path__, "agent.store."):
    if ".migrations" not in module.name:
        importlib.import_module(module.name)
import agent.events, agent.events.registry, agent.insights.job, agent.digest.build
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
