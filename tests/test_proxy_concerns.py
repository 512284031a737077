"""The concern list: it loads against the real prompts and guides, matches phrases (not words
inside other words, not films), and an alert carries the prompt, the guide and the routes."""

from __future__ import annotations

import tomllib

import pytest

from agent.events import EventKind, Severity, registry
from agent.events.searches import Search
from agent.proxy.concerns import (
    DEFAULT_PATH,
    ConcernsError,
    load_concerns,
    normalise,
    parse_concerns,
)

from proxytools import NOON

CONCERNS = load_concerns()


@pytest.mark.parametrize(
    ("terms", "concern"),
    [
        ("how to kill myself", "suicide"),
        ("I DON\u2019T want to be here anymore", "suicide"),
        ("how to hide self-harm scars", "self-harm"),
        ("is it ok to have an older boyfriend", "grooming"),
        ("someone is threatening to share my nudes", "sextortion"),
        ("how does report remove work", "sextortion"),
        ("a man on roblox asked me for pictures", "pictures-asked"),
        ("suicide squad cast", None),  # a film
        ("kill myself laughing lyrics", None),
        ("skill myselfie", None),  # not words inside other words
        ("volcano facts", None),
        ("", None),
    ],
)
def test_phrases_match_whole_words_in_order(terms, concern):
    found = CONCERNS.match(terms)
    assert (found.concern.id if found else None) == concern


def test_every_concern_is_sourced_and_points_at_real_help():
    assert {c.id for c in CONCERNS.concerns} == {
        "suicide",
        "self-harm",
        "grooming",
        "sextortion",
        "pictures-asked",
    }
    for c in CONCERNS.concerns:
        assert c.sources and all(s.url.startswith("https://") for s in c.sources)
        assert c.routes and c.prompt and c.guide


def test_an_alert_carries_the_prompt_the_guide_and_the_routes():
    found = CONCERNS.match("i want to die")
    search = Search("google", "Google Search", "i want to die")
    item = CONCERNS.event(found, search, "Sam", "02:00:00:00:00:10", NOON)
    e = item.event
    assert (e.kind, e.severity, e.child) == (EventKind.CONCERNING_SEARCH, Severity.URGENT, "Sam")
    d = e.details
    assert d["terms"] == "i want to die" and d["concern"] == "suicide" and d["engine"] == "google"
    assert d["prompt"]["id"] == "search-something-on-your-mind" and d["prompt"]["opener"]
    assert d["guide"]["id"] == "self-harm"
    phones = {r["id"]: r["phone"] for r in d["routes"]}
    assert phones["samaritans"] == "116 123" and phones["childline-self-harm"] == "0800 1111"
    assert phones["police-999"] == "999" and phones["papyrus"] == "0800 068 4141"
    later = CONCERNS.event(found, Search("bing", "Bing", "kill myself"), "Sam", "x", NOON)
    assert later.key == item.key  # one alert per child, concern and hour


def test_normalise():
    assert normalise("Self-Harm?!  Don't") == "self harm dont"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("prompt", "no-such-prompt"), "concern 'suicide': prompt: no prompt"),
        (("guide", "no-such-guide"), "concern 'suicide': guide: no help guide"),
        (("routes", ["police-999", "nowhere"]), "concern 'suicide': routes: no route 'nowhere'"),
        (("sources", []), "concern 'suicide': sources"),
        (("colour", "red"), "concern 'suicide': colour: unknown field"),
    ],
)
def test_mistakes_name_the_concern_and_the_field(change, words):
    raw = tomllib.loads(DEFAULT_PATH.read_text())
    raw["concerns"][0][change[0]] = change[1]
    with pytest.raises(ConcernsError, match=words):
        parse_concerns(raw, "concerns.toml", CONCERNS.library, CONCERNS.book)


def test_the_concern_list_says_which_concerns_are_urgent():
    """Self-harm, suicide, sextortion and someone asking for pictures are urgent; grooming
    signs such as an older boyfriend stay ordinary alerts. The list says so, not the code."""
    by_id = {c.id: c.severity for c in CONCERNS.concerns}
    urgent = {cid for cid, sev in by_id.items() if sev is Severity.URGENT}
    assert urgent == {"suicide", "self-harm", "sextortion", "pictures-asked"}
    assert by_id["grooming"] is Severity.ALERT
    search = Search("bing", "Bing", "older boyfriend")
    item = CONCERNS.event(CONCERNS.match("older boyfriend"), search, "Sam", "dev", NOON)
    assert item.event.severity is Severity.ALERT
    # the kind's usual severity in the registry stays "alert": the concern raises it
    assert registry.spec(EventKind.CONCERNING_SEARCH).severity is Severity.ALERT


def test_a_concern_with_an_unknown_severity_is_refused():
    raw = tomllib.loads(DEFAULT_PATH.read_text("utf-8"))
    raw["concerns"][0]["severity"] = "panic"
    with pytest.raises(ConcernsError, match="concern 'suicide': severity"):
        parse_concerns(raw, "concerns.toml", CONCERNS.library, CONCERNS.book)
