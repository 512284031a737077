"""The prompt library (content checks), triggers, and the weekly selector."""

from __future__ import annotations

import json
import random
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from agent.events import Event, EventKind, Severity
from agent.prompts import (
    GENERAL,
    ContentError,
    Trigger,
    load_letters,
    load_library,
    matches,
    parse_trigger,
    suggest,
)

LIB = load_library()
LETTERS = load_letters()
TODAY = date(2026, 11, 22)  # the Sunday that ends ISO week 2026-W47

# A small stand-in for the app catalogue: app id -> (category, flags).
CATALOGUE = {
    "discord": ("messaging", ["chat_with_strangers"]),
    "zoom": ("video-chat", ["video_chat"]),
    "ometv": ("random-video-chat", ["chat_with_strangers", "video_chat", "anonymous"]),
    "minecraft": ("gaming", ["chat_with_strangers"]),
}


def lookup(app_id: str) -> tuple[str, list[str]] | None:
    return CATALOGUE.get(app_id)


def ev(kind: EventKind, severity: Severity, when: str, app: str | None = None, **details) -> Event:
    return Event(datetime.fromisoformat(when), kind, severity, "Sam", "sam-phone", app, details)


# An 11-year-old's week: Discord for the first time, a Zoom call, an OmeTV visit at 23:10 and
# late-night use.
WEEK = [
    ev(EventKind.FIRST_APP, Severity.NOTICE, "2026-11-16T16:05", "discord"),
    ev(EventKind.VIDEO_CHAT, Severity.INFO, "2026-11-17T18:30", "zoom", minutes=20),
    ev(EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT, "2026-11-21T23:10", "ometv"),
    ev(EventKind.LATE_NIGHT, Severity.NOTICE, "2026-11-21T23:40"),
]


# --- the library ------------------------------------------------------------------------------


def test_library_has_at_least_thirty_prompts() -> None:
    assert len(LIB.prompts) >= 30
    assert len({p.id for p in LIB.prompts}) == len(LIB.prompts)


def test_letters_record_holds_the_five_letters() -> None:
    assert len(LETTERS) == 5
    for name, letter in LETTERS.items():
        assert re.fullmatch(r"\d{3}_[0-9a-f]{16}\.txt", name)
        assert letter.sender and letter.subject and letter.summary


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

L004 = "004_4cd3c2d600256b4c.txt"


def _valid_prompt(**changes) -> dict:
    prompt = {
        "id": "test-prompt",
        "triggers": ["late_night"],
        "ages": [8, 12],
        "topic": "sleep",
        "opener": "How are you sleeping?",
        "follow_ups": ["What keeps you up?", "What time is fair?"],
        "listen_for": "Worries.",
        "step": "Agree a screens-off time.",
        "sources": [L004],
    }
    prompt.update(changes)
    return {k: v for k, v in prompt.items() if v is not None}


def _write(tmp_path: Path, *prompts: dict) -> Path:
    """Write prompts as TOML (JSON strings and arrays are valid TOML values)."""
    lines = []
    for prompt in prompts:
        lines.append("[[prompts]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in prompt.items()]
    path = tmp_path / "prompts.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


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


# --- the selector -----------------------------------------------------------------------------


def test_week_for_an_eleven_year_old_puts_the_alert_first() -> None:
    picks = suggest(WEEK, 11, today=TODAY, app_lookup=lookup)
    assert len(picks) == 3
    # The alert outranks the notices; the two notices outrank the info-level Zoom call.
    assert picks[0].event is WEEK[2] and picks[0].event.severity is Severity.ALERT
    assert [p.event.kind for p in picks] == [
        EventKind.RANDOM_VIDEO_CHAT,
        EventKind.FIRST_APP,
        EventKind.LATE_NIGHT,
    ]
    assert all(p.prompt.min_age <= 11 <= p.prompt.max_age for p in picks)
    assert picks[0].score > picks[1].score > picks[2].score
    assert "23:10" in picks[0].why


def test_discord_gets_the_prompt_that_names_discord() -> None:
    # Notice-level first_app and late_night tie on severity; naming the app is the most specific
    # match, so the Discord prompt wins over flag-, category- and kind-level ones.
    picks = suggest(WEEK, 11, today=TODAY, app_lookup=lookup)
    discord = next(p for p in picks if p.event is WEEK[0])
    assert Trigger("first_app", "app", "discord") in discord.prompt.triggers
    assert discord.score > picks[2].score


def test_variety_no_topic_or_event_kind_twice() -> None:
    # Three late nights and a new device: late night should come up once, not three times.
    week = [
        ev(EventKind.LATE_NIGHT, Severity.NOTICE, f"2026-11-{d}T23:30") for d in (16, 17, 18)
    ] + [ev(EventKind.NEW_DEVICE, Severity.INFO, "2026-11-19T10:00")]
    picks = suggest(week, 11, today=TODAY, limit=4)
    kinds = [p.event.kind for p in picks if p.event is not None]
    assert kinds.count(EventKind.LATE_NIGHT) == 1 and EventKind.NEW_DEVICE in kinds
    assert len({p.prompt.topic for p in picks}) == len(picks) == 4


def test_a_prompt_discussed_three_days_ago_gives_way() -> None:
    first = suggest(WEEK, 11, today=TODAY, app_lookup=lookup)[0]
    discussed = {first.prompt.id: TODAY - timedelta(days=3)}
    again = suggest(WEEK, 11, discussed=discussed, today=TODAY, app_lookup=lookup)
    assert first.prompt.id not in {p.prompt.id for p in again}
    # Another prompt about the same alert takes its place.
    assert again[0].event is WEEK[2] and again[0].prompt.id != first.prompt.id


def test_a_prompt_discussed_long_ago_is_not_penalised() -> None:
    plain = suggest(WEEK, 11, today=TODAY, app_lookup=lookup)
    old = {plain[0].prompt.id: TODAY - timedelta(days=40)}
    assert suggest(WEEK, 11, discussed=old, today=TODAY, app_lookup=lookup) == plain


def test_discussed_prompt_still_offered_when_nothing_else_fits(tmp_path: Path) -> None:
    lib = load_library(_write(tmp_path, _valid_prompt()))
    week = [ev(EventKind.LATE_NIGHT, Severity.NOTICE, "2026-11-18T23:30")]
    picks = suggest(
        week, 10, discussed={"test-prompt": TODAY - timedelta(days=3)}, today=TODAY, library=lib
    )
    assert [p.prompt.id for p in picks] == ["test-prompt"]
    assert "3 days ago" in picks[0].why


def test_empty_week_gives_general_prompts() -> None:
    picks = suggest([], 11, today=TODAY)
    assert len(picks) == 3
    assert all(p.event is None and p.prompt.general for p in picks)
    assert len({p.prompt.topic for p in picks}) == 3


def test_quiet_weeks_rotate_through_general_prompts() -> None:
    seen = {
        p.prompt.id for w in range(6) for p in suggest([], 11, today=TODAY + timedelta(weeks=w))
    }
    assert len(seen) > 3


def test_selector_is_deterministic_whatever_the_event_order() -> None:
    expected = suggest(WEEK, 11, today=TODAY, app_lookup=lookup)
    for seed in range(5):
        shuffled = WEEK[:]
        random.Random(seed).shuffle(shuffled)
        assert suggest(shuffled, 11, today=TODAY, app_lookup=lookup) == expected


def test_prompts_outside_the_childs_age_are_never_offered() -> None:
    for age in (6, 15):
        for pick in suggest(WEEK, age, today=TODAY, app_lookup=lookup, limit=6):
            assert pick.prompt.min_age <= age <= pick.prompt.max_age


def test_unknown_age_gets_prompts_suiting_eight_to_twelve() -> None:
    picks = suggest(WEEK, None, today=TODAY, app_lookup=lookup)
    assert picks and picks[0].event is WEEK[2]
    assert all(p.prompt.min_age <= 8 and p.prompt.max_age >= 12 for p in picks)


def test_limit_is_respected() -> None:
    assert len(suggest(WEEK, 11, today=TODAY, limit=1)) == 1
    assert suggest(WEEK, 11, today=TODAY, limit=0) == []
