"""Each event kind's detail fields, as a typed record: what its detector puts in
`Event.details` (stored as JSON), and what its words and the digest may read. Every field is
optional: an event stored by an older box may lack the newer ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


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
