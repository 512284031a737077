"""Conversation prompts: the library and its triggers.

The library lives in `prompts.toml` beside this module (the file documents every field and the
trigger syntax); every prompt cites letters recorded in `letters.toml` (see `agent.talk.letters`).
Choosing what to talk about this week is `agent.talk.suggest`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from agent.events import Event, EventKind
from agent.talk.letters import CONTENT_DIR, ContentError, Letter, load_letters, read_toml

__all__ = [
    # the prompt library (this module)
    "CATEGORIES",
    "DEFAULT_PATH",
    "FLAGS",
    "GENERAL",
    "QUALIFIERS",
    "SLUG",
    "UNKNOWN_AGE_SPAN",
    "AppLookup",
    "Library",
    "Prompt",
    "Trigger",
    "default_library",
    "load_library",
    "matches",
    "parse_trigger",
]

DEFAULT_PATH = CONTENT_DIR / "prompts.toml"
GENERAL = "general"
QUALIFIERS = ("category", "flag", "app")
UNKNOWN_AGE_SPAN = (8, 12)
# The app catalogue's categories and flags, plus the blocklist categories a site can fall in.
_CATEGORIES = """social messaging video-chat random-video-chat live-streaming gaming game-chat video
    dating anonymous photo-sharing ai-chat search vpn-proxy adult gambling malware piracy bypass"""
_FLAGS = """chat_with_strangers video_chat live_streaming disappearing_messages location_sharing
    anonymous"""
CATEGORIES, FLAGS = frozenset(_CATEGORIES.split()), frozenset(_FLAGS.split())
SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")

# An app id -> (category, flags), or None for an app the catalogue doesn't know.
AppLookup = Callable[[str], tuple[str, Iterable[str]] | None]


@dataclass(frozen=True)
class Trigger:
    """`kind`, or `kind:qualifier=value`; `general` is the quiet-week trigger."""

    kind: str
    qualifier: str | None = None
    value: str | None = None

    @property
    def specificity(self) -> int:
        """0 for a bare kind, 1 for a category or flag, 2 for a named app."""
        return {None: 0, "category": 1, "flag": 1, "app": 2}[self.qualifier]

    def __str__(self) -> str:
        return self.kind if self.qualifier is None else f"{self.kind}:{self.qualifier}={self.value}"


def parse_trigger(text: str) -> Trigger:
    """Parse one trigger; ValueError says what is wrong with it."""
    kind, sep, rest = text.partition(":")
    if kind == GENERAL:
        if sep:
            raise ValueError("'general' takes no qualifier")
        return Trigger(GENERAL)
    if kind not in EventKind.__members__.values():
        raise ValueError(f"unknown event kind {kind!r}")
    if not sep:
        return Trigger(kind)
    qualifier, eq, value = rest.partition("=")
    if qualifier not in QUALIFIERS or not eq:
        raise ValueError(f"{text!r}: qualifier must be one of category=, flag=, app=")
    known = {"category": CATEGORIES, "flag": FLAGS}.get(qualifier)
    if not SLUG.match(value) or (known is not None and value not in known):
        raise ValueError(f"{text!r}: unknown {qualifier} {value!r}")
    return Trigger(kind, qualifier, value)


def _app_facts(event: Event, app_lookup: AppLookup | None) -> tuple[str | None, set[str]]:
    """The event's category and flags: from its details first, then the app catalogue."""
    category = event.details.get("category")
    flags = set(event.details.get("flags") or ())
    if event.app and app_lookup is not None:
        found = app_lookup(event.app)
        if found is not None:
            category = category or found[0]
            flags |= set(found[1])
    return category, flags


def matches(trigger: Trigger, event: Event, app_lookup: AppLookup | None = None) -> bool:
    """Whether `event` is one `trigger` is about. `general` never matches an event."""
    if trigger.kind == GENERAL or event.kind != trigger.kind:
        return False
    if trigger.qualifier is None:
        return True
    if trigger.qualifier == "app":
        return event.app == trigger.value
    category, flags = _app_facts(event, app_lookup)
    return category == trigger.value if trigger.qualifier == "category" else trigger.value in flags


@dataclass(frozen=True)
class Prompt:
    id: str
    triggers: tuple[Trigger, ...]
    min_age: int
    max_age: int
    topic: str
    opener: str
    follow_ups: tuple[str, ...]
    listen_for: str
    step: str
    sources: tuple[str, ...]
    help_url: str | None = None

    @property
    def general(self) -> bool:
        return any(t.kind == GENERAL for t in self.triggers)

    def suits(self, age: int | None) -> bool:
        """Known age: inside the range. Unknown age: the range covers all of 8 to 12."""
        if age is None:
            return self.min_age <= UNKNOWN_AGE_SPAN[0] and self.max_age >= UNKNOWN_AGE_SPAN[1]
        return self.min_age <= age <= self.max_age


@dataclass(frozen=True)
class Library:
    prompts: tuple[Prompt, ...]
    letters: Mapping[str, Letter]

    def get(self, prompt_id: str) -> Prompt:
        for prompt in self.prompts:
            if prompt.id == prompt_id:
                return prompt
        raise KeyError(prompt_id)


def load_library(path: str | Path | None = None, letters_path: str | Path | None = None) -> Library:
    """Load and check the prompt library; any mistake raises ContentError."""
    path = Path(path) if path is not None else DEFAULT_PATH
    letters = load_letters(letters_path)
    raw = read_toml(path)
    prompts: list[Prompt] = []
    for i, item in enumerate(raw.get("prompts", [])):
        prompt = _PromptParser(str(path), item, i, letters).parse()
        if any(p.id == prompt.id for p in prompts):
            raise ContentError(f"{path}: prompt {prompt.id!r}: id: used twice")
        prompts.append(prompt)
    return Library(tuple(prompts), letters)


class _PromptParser:
    """Checks one [[prompts]] table; each error names the prompt id and the field."""

    TEXT = ("topic", "opener", "listen_for", "step")
    KEYS = {"id", "triggers", "ages", "follow_ups", "sources", "help_url", *TEXT}

    def __init__(self, source: str, raw: Any, index: int, letters: Mapping[str, Letter]) -> None:
        self.source, self.raw, self.letters = source, raw, letters
        self.id = raw.get("id") if isinstance(raw, dict) else None
        if not isinstance(self.id, str) or not SLUG.match(self.id):
            raise ContentError(f"{source}: prompts[{index}]: id: must be a lower-case slug")

    def fail(self, field: str, problem: str) -> ContentError:
        return ContentError(f"{self.source}: prompt {self.id!r}: {field}: {problem}")

    def strings(self, field: str, low: int, high: int) -> tuple[str, ...]:
        value = self.raw.get(field)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(field, "must be a list of non-empty strings")
        if not low <= len(value) <= high:
            raise self.fail(field, f"needs {low} to {high} entries, has {len(value)}")
        return tuple(value)

    def parse(self) -> Prompt:
        unknown = sorted(set(self.raw) - self.KEYS)
        if unknown:
            raise self.fail(unknown[0], "unknown field")
        texts = {}
        for field in self.TEXT:
            if not isinstance(self.raw.get(field), str) or not self.raw[field].strip():
                raise self.fail(field, "is required (a non-empty string)")
            texts[field] = self.raw[field].strip()
        triggers = []
        for text in self.strings("triggers", 1, 10):
            try:
                triggers.append(parse_trigger(text))
            except ValueError as exc:
                raise self.fail("triggers", str(exc)) from None
        for source in self.strings("sources", 1, 5):
            if source not in self.letters:
                raise self.fail("sources", f"{source!r} is not in letters.toml")
        ages = self.raw.get("ages")
        if not (isinstance(ages, list) and len(ages) == 2 and all(type(a) is int for a in ages)):
            raise self.fail("ages", "must be [min, max] whole numbers")
        if not 0 <= ages[0] <= ages[1] <= 18:
            raise self.fail("ages", f"{ages} is not a range within 0 to 18")
        help_url = self.raw.get("help_url")
        if help_url is not None and not (
            isinstance(help_url, str) and help_url.startswith("https://")
        ):
            raise self.fail("help_url", "must be an https:// address")
        return Prompt(
            id=self.id,
            triggers=tuple(triggers),
            min_age=ages[0],
            max_age=ages[1],
            follow_ups=self.strings("follow_ups", 2, 4),
            sources=self.strings("sources", 1, 5),
            help_url=help_url,
            **texts,
        )


@cache
def default_library() -> Library:
    return load_library()
