"""Conversation prompts: the library, its triggers, and choosing what to talk about this week.

The library lives in `content/prompts.toml` (the file documents every field and the trigger
syntax); every prompt cites letters recorded in `content/letters.toml`. `suggest` is pure: given a
child's events for a week it returns a few prompts, ranked as its docstring explains.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from agent.events import Event, EventKind

CONTENT_DIR = Path(__file__).resolve().parent / "content"
DEFAULT_PATH = CONTENT_DIR / "prompts.toml"
LETTERS_PATH = CONTENT_DIR / "letters.toml"
GENERAL = "general"
QUALIFIERS = ("category", "flag", "app")
# The app catalogue's categories and flags, plus the blocklist categories a site can fall in.
_CATEGORIES = """social messaging video-chat random-video-chat live-streaming gaming game-chat video
    dating anonymous photo-sharing ai-chat search vpn-proxy adult gambling malware piracy bypass"""
_FLAGS = """chat_with_strangers video_chat live_streaming disappearing_messages location_sharing
    anonymous"""
CATEGORIES, FLAGS = frozenset(_CATEGORIES.split()), frozenset(_FLAGS.split())
SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")

# An app id -> (category, flags), or None for an app the catalogue doesn't know.
AppLookup = Callable[[str], tuple[str, Iterable[str]] | None]


class ContentError(Exception):
    """A mistake in a content file; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Letter:
    file: str
    sender: str
    subject: str
    summary: str
    date: str | None = None

    @property
    def citation(self) -> str:
        """How a parent sees the letter named: who sent it, when, and the file."""
        when = f", {self.date}" if self.date else ""
        return f"{self.sender}{when} (letter {self.file})"


def load_letters(path: str | Path | None = None) -> dict[str, Letter]:
    """The letters record (shared by prompts and help guides), keyed by file name."""
    path = Path(path) if path is not None else LETTERS_PATH
    raw = read_toml(path)
    letters: dict[str, Letter] = {}
    for i, item in enumerate(raw.get("letters", [])):
        fields = {k: item.get(k) for k in ("file", "from", "subject", "summary")}
        missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
        if missing:
            raise ContentError(f"{path}: letters[{i}]: {missing[0]}: is required")
        letters[item["file"]] = Letter(
            item["file"], item["from"], item["subject"], item["summary"], item.get("date")
        )
    return letters


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{path}: not valid TOML: {exc}") from None


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


# --- choosing ---------------------------------------------------------------------------------

UNKNOWN_AGE_SPAN = (8, 12)
RECENT_DAYS = 28
SEVERITY_POINTS = 100  # per severity rank: info 0, notice 100, alert 200
SPECIFICITY_POINTS = 10  # per level: bare kind 0, category/flag 10, app 20
AGE_FIT_POINTS = 5  # at most; one less per year between the child's age and the range's middle
GENERAL_SCORE = -50  # below any event, so a quiet-week prompt only fills spare places
RECENT_PENALTY = -1000  # below everything not discussed recently

KIND_LABELS = {
    EventKind.NEW_DEVICE: "New device",
    EventKind.FIRST_APP: "First use of an app",
    EventKind.FIRST_SITE: "First visit to a site",
    EventKind.VIDEO_CHAT: "Video call",
    EventKind.RANDOM_VIDEO_CHAT: "Random video chat",
    EventKind.AGE_BLOCKED: "Blocked for age",
    EventKind.BYPASS_SUSPECTED: "Possible way round the filter",
    EventKind.LATE_NIGHT: "Late-night use",
    EventKind.NEW_CONTACT: "New contact",
    EventKind.CONCERNING_SEARCH: "Worrying search",
    EventKind.CHILD_REQUEST: "Your child asked",
}


@dataclass(frozen=True)
class Suggestion:
    prompt: Prompt
    event: Event | None  # None for a general, quiet-week prompt
    score: int
    why: str


def suggest(
    events: Sequence[Event],
    child_age: int | None,
    *,
    discussed: Mapping[str, date] | None = None,
    today: date,
    limit: int = 3,
    app_lookup: AppLookup | None = None,
    library: Library | None = None,
) -> list[Suggestion]:
    """Up to `limit` prompts worth raising this week, best first.

    Only prompts whose age range fits the child are considered (unknown age: ranges covering 8 to
    12). Each prompt is scored against its best-matching event: event severity first, then how
    specific the trigger is (app= over category=/flag= over a bare kind), then age fit. Prompts
    with a `general` trigger score a flat amount below any event, so they fill spare places and
    whole quiet weeks, rotating week by week. A prompt discussed in the last 28 days drops below
    all others. Picking keeps variety: no two on one topic or one event kind while alternatives
    remain. Each prompt takes its highest-scoring event (earliest on a tie) and prompts tie-break
    on id, so the same input always gives the same answer, whatever the order of `events`.
    """
    library = library or default_library()
    age = child_age if child_age is not None else sum(UNKNOWN_AGE_SPAN) // 2
    general_rank = _rotation([p.id for p in library.prompts if p.general], today, limit)
    ranked: list[tuple[tuple[Any, ...], Suggestion]] = []
    for prompt in library.prompts:
        if not prompt.suits(child_age):
            continue
        found = _score(prompt, events, age, app_lookup)
        if found is None:
            continue
        score, event, trigger = found
        last = (discussed or {}).get(prompt.id)
        recent = last is not None and 0 <= (today - last).days < RECENT_DAYS
        score += RECENT_PENALTY if recent else 0
        why = _why(event, trigger, (today - last).days if recent and last else None)
        order = general_rank.get(prompt.id, 0) if event is None else 0
        ranked.append(((-score, order, prompt.id), Suggestion(prompt, event, score, why)))
    ranked.sort(key=lambda pair: pair[0])
    return _pick_varied([s for _, s in ranked], limit)


def _score(
    prompt: Prompt, events: Sequence[Event], age: int, app_lookup: AppLookup | None
) -> tuple[int, Event | None, Trigger | None] | None:
    """The prompt's best (score, event, trigger); None if nothing matches."""
    fit = max(0, AGE_FIT_POINTS - int(abs(age - (prompt.min_age + prompt.max_age) / 2)))
    best: tuple[tuple[int, float, int], Event, Trigger] | None = None
    for event in events:
        for trigger in prompt.triggers:
            if not matches(trigger, event, app_lookup):
                continue
            score = event.severity.rank * SEVERITY_POINTS + trigger.specificity * SPECIFICITY_POINTS
            key = (score, -event.time.timestamp(), -(event.id or 0))
            if best is None or key > best[0]:
                best = (key, event, trigger)
    if best is not None:
        return best[0][0] + fit, best[1], best[2]
    return (GENERAL_SCORE, None, None) if prompt.general else None


def _rotation(ids: list[str], today: date, stride: int) -> dict[str, int]:
    """A week-by-week rotation of the general prompts, so quiet weeks don't repeat."""
    ordered = sorted(ids)
    week = (today.toordinal() - 1) // 7  # day 1 (1 January of year 1) was a Monday
    shift = week * max(1, stride) % max(1, len(ordered))
    return {pid: (i - shift) % len(ordered) for i, pid in enumerate(ordered)}


def _why(event: Event | None, trigger: Trigger | None, days_ago: int | None) -> str:
    if event is None:
        text = "Nothing specific this week: a general conversation starter."
    else:
        label = KIND_LABELS.get(event.kind, str(event.kind))
        app = f" ({event.app})" if event.app else ""
        text = f"{label}{app}, {event.time:%a %H:%M}"
        if event.severity.rank >= 2:
            text = f"Alert: {text}"
        if trigger is not None and trigger.qualifier in ("category", "flag"):
            what = "category" if trigger.qualifier == "category" else "feature"
            text += f"; {what}: {(trigger.value or '').replace('_', ' ')}"
    if days_ago is not None:
        text += f". Talked about {days_ago} days ago."
    return text


def _pick_varied(ranked: list[Suggestion], limit: int) -> list[Suggestion]:
    """Pick in rank order, first keeping topics and event kinds distinct, then relaxing."""
    chosen: list[Suggestion] = []
    for distinct_kind, distinct_topic in ((True, True), (False, True), (False, False)):
        for cand in ranked:
            if len(chosen) >= limit:
                return chosen
            kind = cand.event.kind if cand.event is not None else None
            if any(c.prompt.id == cand.prompt.id for c in chosen):
                continue
            if distinct_topic and any(c.prompt.topic == cand.prompt.topic for c in chosen):
                continue
            if (
                distinct_kind
                and kind is not None
                and any(c.event is not None and c.event.kind == kind for c in chosen)
            ):
                continue
            chosen.append(cand)
    return chosen
