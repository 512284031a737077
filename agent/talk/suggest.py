"""Choosing what to talk about this week: a few prompts from the library, ranked.

`suggest` is pure: given a child's events for a week it returns a few prompts, ranked as its
docstring explains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from agent.events import Event, Severity, registry
from agent.talk.prompts import (
    UNKNOWN_AGE_SPAN,
    AppLookup,
    Library,
    Prompt,
    Trigger,
    default_library,
    matches,
)

RECENT_DAYS = 28
SEVERITY_POINTS = 100  # per severity rank: info 0, notice 100, alert 200, urgent 300
SPECIFICITY_POINTS = 10  # per level: bare kind 0, category/flag 10, app 20
NAMED_POINTS = 50  # the event names this prompt itself (a worrying search's concern)
AGE_FIT_POINTS = 5  # at most; one less per year between the child's age and the range's middle
GENERAL_SCORE = -50  # below any event, so a quiet-week prompt only fills spare places
RECENT_PENALTY = -1000  # below everything not discussed recently


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
    specific the trigger is (app= over category=/flag= over a bare kind), then age fit. An event
    that names its own prompt (a worrying search carries its concern's) matches that prompt
    whatever its triggers, and scores it above any other prompt for the same event. Prompts
    with a `general` trigger score a flat amount below any event, so they fill spare places and
    whole quiet weeks, rotating week by week. A prompt discussed in the last 28 days drops below
    all others, unless an urgent event came after that talk. Picking keeps variety: no two on
    one topic or one event kind while alternatives remain. Each prompt takes its highest-scoring
    event (earliest on a tie) and prompts tie-break on id, so the same input always gives the
    same answer, whatever the order of `events`.
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
        if recent and last is not None and event is not None and _urgent_since(event, last):
            recent = False
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
        named = _named_prompt(event) == prompt.id
        found = [t for t in prompt.triggers if matches(t, event, app_lookup)]
        if named and not found:
            found = [Trigger(str(event.kind), None, None)]
        for trigger in found:
            score = event.severity.rank * SEVERITY_POINTS + trigger.specificity * SPECIFICITY_POINTS
            score += NAMED_POINTS if named else 0
            key = (score, -event.time.timestamp(), -(event.id or 0))
            if best is None or key > best[0]:
                best = (key, event, trigger)
    if best is not None:
        return best[0][0] + fit, best[1], best[2]
    return (GENERAL_SCORE, None, None) if prompt.general else None


def _named_prompt(event: Event) -> str | None:
    prompt = event.details.get("prompt") if isinstance(event.details, dict) else None
    found = prompt.get("id") if isinstance(prompt, dict) else None
    return found if isinstance(found, str) else None


def _urgent_since(event: Event, last: date) -> bool:
    """An urgent event no parent has marked as seen, on or after the day it was last talked
    about: the talk may have been about something else, so it stays first."""
    return (
        event.severity is Severity.URGENT and not event.acknowledged and event.time.date() >= last
    )


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
        label = registry.label(event.kind)
        app = f" ({event.app})" if event.app else ""
        text = f"{label}{app}, {event.time:%a %H:%M}"
        if event.severity is Severity.URGENT:
            text = f"Urgent, talk today: {text}"
        elif event.severity.rank >= 2:
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
