"""The weekly selector: which prompts to raise, in what order, with variety."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

from agent.events import EventKind, Severity
from agent.talk.prompts import Trigger, load_library
from agent.talk.suggest import suggest

from prompttools import ev, lookup
from prompttools import valid_prompt as _valid_prompt
from prompttools import write_prompts as _write

TODAY = date(2026, 11, 22)  # the Sunday that ends ISO week 2026-W47

# A small stand-in for the app catalogue: app id -> (category, flags).


# An 11-year-old's week: Discord for the first time, a Zoom call, an OmeTV visit at 23:10 and
# late-night use.
WEEK = [
    ev(EventKind.FIRST_APP, Severity.NOTICE, "2026-11-16T16:05", "discord"),
    ev(EventKind.VIDEO_CHAT, Severity.INFO, "2026-11-17T18:30", "zoom", minutes=20),
    ev(EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT, "2026-11-21T23:10", "ometv"),
    ev(EventKind.LATE_NIGHT, Severity.NOTICE, "2026-11-21T23:40"),
]


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


def _worrying(terms: str, when: str, acknowledged: bool = False):
    from dataclasses import replace
    from datetime import datetime

    from agent.events.searches import Search
    from agent.proxy.concerns import load_concerns

    concerns = load_concerns()
    at = datetime.fromisoformat(when)
    item = concerns.event(concerns.match(terms), Search("google", "Google", terms), "Sam", "t", at)
    return replace(item.event, acknowledged=acknowledged)


def test_an_urgent_search_puts_its_concerns_own_prompt_first():
    """The self-harm search used to lose to another prompt on the same trigger (ties break by
    id); the concern names its prompt, and urgent outranks every ordinary alert."""
    events = [*WEEK, _worrying("how to hide self harm", "2026-11-20T21:00")]
    first, *_ = suggest(events, 14, today=TODAY)
    assert first.prompt.id == "search-something-on-your-mind"
    assert first.why.startswith("Urgent, talk today: Worrying search")


def test_a_prompt_named_by_an_urgent_event_needs_no_trigger_of_its_own():
    # sextortion's prompt is not triggered by worrying searches, but the concern names it
    events = [*WEEK, _worrying("someone is threatening to share my nudes", "2026-11-20T21:00")]
    assert suggest(events, 14, today=TODAY)[0].prompt.id == "random-video-pictures-and-threats"


def test_an_urgent_prompt_stays_first_after_an_earlier_talk_until_it_is_seen():
    discussed = {"search-something-on-your-mind": date(2026, 11, 10)}
    events = [*WEEK, _worrying("how to hide self harm", "2026-11-20T21:00")]
    found = suggest(events, 14, today=TODAY, discussed=discussed)
    assert found[0].prompt.id == "search-something-on-your-mind"
    seen = [*WEEK, _worrying("how to hide self harm", "2026-11-20T21:00", acknowledged=True)]
    found = suggest(seen, 14, today=TODAY, discussed=discussed)
    assert found[0].prompt.id != "search-something-on-your-mind"
