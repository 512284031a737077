"""Worrying searches: phrases on the concern list, and the help an alert carries.

The list lives in `agent/talk/concerns.toml` (the file documents its fields and how a
phrase matches). Loading it checks every prompt, guide and route it names against the
prompt library and the help guides, so an alert never points at help that does not exist.
`ConcernList.match` is pure and cheap: a handful of substring tests on a normalised search.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.events import Event, EventKind, Severity
from agent.events.searches import Search
from agent.rules.catalog import AGE_EVIDENCE
from agent.store.events import KeyedEvent
from agent.talk.guides import HelpBook, Route, load_help
from agent.talk.letters import CONTENT_DIR
from agent.talk.prompts import Library, default_library

DEFAULT_PATH = CONTENT_DIR / "concerns.toml"
SCHEMA_VERSION = 1
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_ROUTE_FIELDS = ("name", "when", "phone", "url", "contact")


class ConcernsError(ValueError):
    """The concern list is unusable; the message names the concern and the field."""


@dataclass(frozen=True)
class Source:
    name: str
    url: str
    evidence: str
    note: str


@dataclass(frozen=True)
class Concern:
    id: str
    title: str
    phrases: tuple[str, ...]  # normalised
    unless: frozenset[str]
    prompt: str
    guide: str
    routes: tuple[Route, ...]
    sources: tuple[Source, ...]
    severity: Severity = Severity.ALERT  # "urgent": a child may be at risk today


@dataclass(frozen=True)
class Match:
    concern: Concern
    phrase: str


@dataclass(frozen=True)
class ConcernList:
    concerns: tuple[Concern, ...]
    library: Library
    book: HelpBook

    def match(self, terms: str) -> Match | None:
        """The first concern whose phrase is in `terms` (and none of its `unless` words)."""
        text = f" {normalise(terms)} "
        if text == "  ":
            return None
        words = frozenset(text.split())
        for concern in self.concerns:
            if concern.unless & words:
                continue
            for phrase in concern.phrases:
                if f" {phrase} " in text:
                    return Match(concern, phrase)
        return None

    def details(self, found: Match) -> dict[str, Any]:
        """What the alert carries: the concern, the prompt, the guide and the routes."""
        c = found.concern
        prompt = self.library.get(c.prompt)
        guide = self.book.get(c.guide)
        return {
            "concern": c.id,
            "concern_title": c.title,
            "phrase": found.phrase,
            "prompt": {"id": prompt.id, "opener": prompt.opener, "step": prompt.step},
            "guide": {"id": guide.id, "title": guide.title},
            "routes": [_route_json(r) for r in c.routes],
            "sources": [s.url for s in c.sources],
        }

    def event(
        self, found: Match, search: Search, child: str | None, device: str, when: datetime
    ) -> KeyedEvent:
        """The alert: one per child (or device) and concern an hour, whatever the wording."""
        details = {"engine": search.engine, "engine_name": search.engine_name}
        details |= {"terms": search.terms} | self.details(found)
        severity = found.concern.severity
        event = Event(when, EventKind.CONCERNING_SEARCH, severity, child, device, None, details)
        hour = int(when.timestamp() // 3600)
        return KeyedEvent(event, f"concerning_search:{child or device}:{found.concern.id}:{hour}")


def normalise(text: str) -> str:
    """Lower case, apostrophes dropped, everything but letters and digits made one space."""
    lowered = text.lower().replace("'", "").replace("\u2019", "")
    return _NOT_WORD.sub(" ", lowered).strip()


def load_concerns(
    path: Path | None = None, library: Library | None = None, book: HelpBook | None = None
) -> ConcernList:
    path = path or DEFAULT_PATH
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConcernsError(f"{path}: cannot read the concern list: {exc.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConcernsError(f"{path}: not valid TOML: {exc}") from None
    return parse_concerns(raw, str(path), library or default_library(), book or load_help())


def parse_concerns(
    raw: dict[str, Any], source: str, library: Library, book: HelpBook
) -> ConcernList:
    version = raw.get("meta", {}).get("schema_version")
    if version != SCHEMA_VERSION:
        raise ConcernsError(f"{source}: schema_version {version!r} is not {SCHEMA_VERSION}")
    routes = dict(book.routes)
    for rid, item in raw.get("routes", {}).items():
        if rid in routes:
            raise ConcernsError(f"{source}: route {rid!r}: already in the help guides' routes")
        routes[rid] = _route(source, rid, item)
    concerns = [_Checker(source, i, item, library, book, routes).concern()
                for i, item in enumerate(raw.get("concerns", []))]  # fmt: skip
    ids = [c.id for c in concerns]
    if not concerns or len(set(ids)) != len(ids):
        raise ConcernsError(f"{source}: needs [[concerns]], each with its own id")
    return ConcernList(tuple(concerns), library, book)


def _route(source: str, rid: str, item: Any) -> Route:
    where = f"{source}: route {rid!r}"
    if not isinstance(item, dict) or set(item) - set(_ROUTE_FIELDS):
        raise ConcernsError(f"{where}: fields are {', '.join(_ROUTE_FIELDS)}")
    if not all(isinstance(item.get(k), str) and item[k].strip() for k in ("name", "when")):
        raise ConcernsError(f"{where}: needs a name and a when")
    if not any(item.get(k) for k in ("phone", "url", "contact")):
        raise ConcernsError(f"{where}: needs a phone, url or contact")
    return Route(rid, **{k: item[k] for k in _ROUTE_FIELDS if k in item})


def _route_json(r: Route) -> dict[str, str | None]:
    return {
        "id": r.id, "name": r.name, "phone": r.phone, "url": r.url, "when": r.when,
        "contact": r.contact,
    }  # fmt: skip


class _Checker:
    """Checks one [[concerns]] table; each error names the concern and the field."""

    FIELDS = {"id", "title", "phrases", "unless", "prompt", "guide", "routes", "sources"}
    FIELDS |= {"severity"}
    SEVERITIES = (Severity.ALERT, Severity.URGENT)

    def __init__(
        self, source: str, i: int, item: Any, library: Library, book: HelpBook,
        routes: dict[str, Route],
    ) -> None:  # fmt: skip
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise ConcernsError(f"{source}: concerns[{i}]: needs an id")
        self.where, self.item = f"{source}: concern {item['id']!r}", item
        self.library, self.book, self.routes = library, book, routes

    def fail(self, field: str, problem: str) -> ConcernsError:
        return ConcernsError(f"{self.where}: {field}: {problem}")

    def texts(self, field: str, required: bool = True) -> list[str]:
        value = self.item.get(field, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(field, "must be a list of non-empty strings")
        if required and not value:
            raise self.fail(field, "needs at least one entry")
        return value

    def concern(self) -> Concern:
        unknown = sorted(set(self.item) - self.FIELDS)
        if unknown:
            raise self.fail(unknown[0], "unknown field")
        for field in ("title", "prompt", "guide"):
            if not isinstance(self.item.get(field), str) or not self.item[field].strip():
                raise self.fail(field, "is required (a non-empty string)")
        try:
            self.library.get(self.item["prompt"])
        except KeyError:
            raise self.fail("prompt", f"no prompt {self.item['prompt']!r}") from None
        try:
            self.book.get(self.item["guide"])
        except KeyError:
            raise self.fail("guide", f"no help guide {self.item['guide']!r}") from None
        missing = [r for r in self.texts("routes") if r not in self.routes]
        if missing:
            raise self.fail("routes", f"no route {missing[0]!r}")
        phrases = tuple(normalise(p) for p in self.texts("phrases"))
        if not all(phrases):
            raise self.fail("phrases", "a phrase needs letters or digits")
        return Concern(
            self.item["id"],
            self.item["title"].strip(),
            phrases,
            frozenset(normalise(w) for w in self.texts("unless", required=False)),
            self.item["prompt"],
            self.item["guide"],
            tuple(self.routes[r] for r in self.item["routes"]),
            self.sources(),
            self.severity(),
        )

    def severity(self) -> Severity:
        value = self.item.get("severity", "alert")
        if value not in self.SEVERITIES:
            raise self.fail("severity", "must be 'alert' or 'urgent'")
        return Severity(value)

    def sources(self) -> tuple[Source, ...]:
        value = self.item.get("sources")
        if not isinstance(value, list) or not value:
            raise self.fail("sources", "needs at least one source")
        out = []
        for s in value:
            ok = isinstance(s, dict) and set(s) == {"name", "url", "evidence", "note"}
            if not ok or not all(isinstance(v, str) and v.strip() for v in s.values()):
                raise self.fail("sources", "each needs a name, url, evidence and note")
            if not s["url"].startswith("https://") or s["evidence"] not in AGE_EVIDENCE:
                raise self.fail("sources", f"{s['name']!r}: an https url and a known evidence")
            out.append(Source(s["name"], s["url"], s["evidence"], s["note"]))
        return tuple(out)
