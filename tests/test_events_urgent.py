"""What an urgent alert says: act today, calmly; the helplines read from the event's details,
malformed entries skipped (an event stored by another version must never break a page)."""

from __future__ import annotations

from datetime import UTC, datetime

from agent.events import Event, EventKind, Severity
from agent.events import urgent as u


def event(routes, severity=Severity.URGENT) -> Event:
    when = datetime(2026, 11, 18, 21, 0, tzinfo=UTC)
    return Event(when, EventKind.CONCERNING_SEARCH, severity, "Sam", details={"routes": routes})


def test_helplines_come_from_the_details_in_order_and_bad_ones_are_skipped():
    e = event([
        {"id": "samaritans", "name": "Samaritans", "phone": "116 123", "url": "https://s.org"},
        {"id": "shout", "name": "Shout", "contact": "text SHOUT to 85258"},
        {"id": "x", "name": "No way to reach"},
        {"name": ""},
        "not a route",
        {"id": "p", "name": "Police", "phone": "999", "when": "Someone is in danger now."},
    ])  # fmt: skip
    found = u.helplines(e)
    assert [h.name for h in found] == ["Samaritans", "Shout", "Police"]
    assert [h.tel for h in found] == ["116123", None, "999"]
    assert found[1].line() == "Shout (text SHOUT to 85258)"
    assert found[2].line() == "Police: 999 (Someone is in danger now.)"
    assert u.helplines(event(None)) == [] and u.helplines(event("junk")) == []


def test_the_words_ask_for_today_calmly_and_never_blame():
    words = u.act_today(event([]))
    assert "today" in words and "calmly and without blame" in words and "999" in words
    assert "hurry" not in words
    assert u.is_urgent(event([])) and not u.is_urgent(event([], Severity.ALERT))
