"""The prompt library (content checks) and its triggers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from agent.events import Event, EventKind, Severity
from agent.talk.letters import ContentError, load_letters
from agent.talk.prompts import GENERAL, Trigger, load_library, matches, parse_trigger

from prompttools import ev, lookup
from prompttools import valid_prompt as _valid_prompt
from prompttools import write_prompts as _write

LIB = load_library()
LETTERS = load_letters()

# A small stand-in for the app catalogue: app id -> (category, flags).


# --- the library ------------------------------------------------------------------------------


def test_library_has_at_least_thirty_prompts() -> None:
    assert len(LIB.prompts) >= 30
    assert len({p.id for p in LIB.prompts}) == len(LIB.prompts)


@pytest.mark.parametrize("prompt", LIB.prompts, ids=lambda p: p.id)
def test_every_prompt_is_complete_and_cites_known_letters(prompt) -> None:
    assert prompt.sources and set(prompt.sources) <= set(LETTERS)
    assert 0 <= prompt.min_age <= prompt.max_age <= 18
    assert 2 <= len(prompt.follow_ups) <= 4
    assert prompt.opener and prompt.listen_for and prompt.step and prompt.topic
    assert prompt.help_url is None or prompt.help_url.startswith("https://")


def test_every_letter_is_drawn_on() -> None:
    cited = {s for p in LIB.prompts for s in p.sources}
    assert cited == set(LETTERS)


def _event_for(trigger: Trigger) -> Event:
    """An event built to fit the trigger, using only the fields the event model has."""
    details: dict = {}
    app = "some-app"
    if trigger.qualifier == "app":
        app = trigger.value
    elif trigger.qualifier == "category":
        details["category"] = trigger.value
    elif trigger.qualifier == "flag":
        details["flags"] = [trigger.value]
    return Event(
        datetime(2026, 11, 18, 17, 0),
        EventKind(trigger.kind),
        Severity.INFO,
        app=app,
        details=details,
    )


@pytest.mark.parametrize("prompt", LIB.prompts, ids=lambda p: p.id)
def test_every_trigger_can_be_met_by_an_event(prompt) -> None:
    for trigger in prompt.triggers:
        if trigger.kind == GENERAL:
            continue
        assert matches(trigger, _event_for(trigger)), str(trigger)


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_event_kind_has_at_least_two_prompts(kind: EventKind) -> None:
    fitting = [p for p in LIB.prompts if any(t.kind == kind for t in p.triggers)]
    assert len(fitting) >= 2


def test_quiet_weeks_have_enough_general_prompts_on_different_topics() -> None:
    general = [p for p in LIB.prompts if p.general]
    assert len({p.topic for p in general}) >= 6


REQUIRED_TOPICS = {
    "age-ratings",
    "cant-unsend",
    "strangers-pretending",
    "sextortion",
    "video-chat",
    "posting-about-others",
    "group-chats-games",
    "privacy-location",
    "passwords",
    "ground-rules",
    "keep-talking",
}


def test_required_topics_are_covered() -> None:
    assert {p.topic for p in LIB.prompts} >= REQUIRED_TOPICS


def test_posting_prompts_name_the_malicious_communications_act() -> None:
    posting = [p for p in LIB.prompts if p.topic == "posting-about-others"]
    assert posting and all("Malicious Communications Act 1988" in p.step for p in posting)


def test_sextortion_prompt_says_it_is_never_the_childs_fault() -> None:
    (prompt,) = [p for p in LIB.prompts if p.topic == "sextortion"]
    assert "never" in prompt.opener and "pay" in prompt.step


# --- triggers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("general", Trigger("general")),
        ("late_night", Trigger("late_night")),
        ("first_app:category=video-chat", Trigger("first_app", "category", "video-chat")),
        ("first_app:flag=chat_with_strangers", Trigger("first_app", "flag", "chat_with_strangers")),
        ("first_app:app=discord", Trigger("first_app", "app", "discord")),
    ],
)
def test_parse_trigger(text: str, expected: Trigger) -> None:
    assert parse_trigger(text) == expected
    assert str(parse_trigger(text)) == text


@pytest.mark.parametrize(
    "text",
    [
        "bedtime",  # not an event kind
        "first_app:colour=red",  # not a qualifier
        "first_app:category=sweets",  # not a category
        "first_app:flag=glitter",  # not a flag
        "first_app:flag",  # qualifier without a value
        "general:app=discord",  # general takes no qualifier
        "first_app:app=Not An Id",
    ],
)
def test_parse_trigger_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_trigger(text)


def test_specificity_orders_app_over_category_over_kind() -> None:
    kind, cat, app = (
        parse_trigger(t) for t in ("first_app", "first_app:flag=video_chat", "first_app:app=zoom")
    )
    assert kind.specificity < cat.specificity < app.specificity


ZOOM = ev(EventKind.FIRST_APP, Severity.INFO, "2026-11-18T17:00", "zoom")


@pytest.mark.parametrize(
    ("trigger", "event", "app_lookup", "expected"),
    [
        ("first_app", ZOOM, None, True),
        ("video_chat", ZOOM, None, False),  # another kind
        ("first_app:category=video-chat", ZOOM, lookup, True),  # decided by the catalogue
        ("first_app:category=video-chat", ZOOM, None, False),  # nothing says what zoom is
        ("first_app:flag=video_chat", ZOOM, lookup, True),
        ("first_app:flag=chat_with_strangers", ZOOM, lookup, False),
        ("first_app:app=zoom", ZOOM, None, True),
        ("first_app:app=discord", ZOOM, lookup, False),
        (
            "first_app:category=gaming",
            ev(
                EventKind.FIRST_APP,
                Severity.INFO,
                "2026-11-18T17:00",
                "new-game",
                category="gaming",
            ),
            None,
            True,
        ),
        (
            "first_app:category=video-chat",
            ev(EventKind.FIRST_APP, Severity.INFO, "2026-11-18T17:00", "unknown-app"),
            lookup,
            False,
        ),
        ("general", ZOOM, lookup, False),
    ],
)
def test_matches(trigger: str, event: Event, app_lookup, expected: bool) -> None:
    assert matches(parse_trigger(trigger), event, app_lookup) is expected


# --- loading and validation -------------------------------------------------------------------


def test_load_library_reads_a_valid_file(tmp_path: Path) -> None:
    lib = load_library(_write(tmp_path, _valid_prompt()))
    prompt = lib.get("test-prompt")
    assert (prompt.min_age, prompt.max_age, prompt.triggers) == (8, 12, (Trigger("late_night"),))
    with pytest.raises(KeyError):
        lib.get("missing")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"triggers": ["bedtime"]}, "triggers"),
        ({"triggers": ["first_app:colour=red"]}, "triggers"),
        ({"triggers": []}, "triggers"),
        ({"sources": None}, "sources"),
        ({"sources": []}, "sources"),
        ({"sources": ["999_0000000000000000.txt"]}, "sources"),
        ({"ages": [12, 8]}, "ages"),
        ({"ages": [8]}, "ages"),
        ({"ages": [8, 30]}, "ages"),
        ({"follow_ups": ["Only one?"]}, "follow_ups"),
        ({"opener": ""}, "opener"),
        ({"help_url": "http://example.com"}, "help_url"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_load_library_names_the_prompt_and_field(tmp_path: Path, change: dict, field: str) -> None:
    with pytest.raises(ContentError) as err:
        load_library(_write(tmp_path, _valid_prompt(**change)))
    assert "'test-prompt'" in str(err.value) and f"{field}:" in str(err.value)


def test_load_library_rejects_a_repeated_id(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="used twice"):
        load_library(_write(tmp_path, _valid_prompt(), _valid_prompt()))
