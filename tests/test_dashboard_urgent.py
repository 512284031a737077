"""Urgent alerts on the dashboard: at the top of Home and of the alerts page in their own
colour, with the helplines stored in the event and words that ask a carer to act today,
calmly; the Talk page offers the concern's own prompt first."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from agent.events import Event, EventKind, Severity
from agent.events.searches import Search
from agent.proxy.concerns import load_concerns
from agent.store import household as store
from agent.store.events import list_events, record_events

CONCERNS = load_concerns()


@pytest.fixture
def sam(engine):
    child = store.add_child(engine, "Sam", date(2012, 3, 1))  # 14
    store.add_device(
        engine, ip="192.168.1.20", name="Sam's tablet", owner="child", child_id=child.id
    )
    return child


def worrying(engine, when, terms="how to hide self harm", child="Sam"):
    search = Search("google", "Google", terms)
    item = CONCERNS.event(CONCERNS.match(terms), search, child, "192.168.1.20", when)
    record_events(engine, [item])
    return item.event


def ordinary(engine, when, child="Sam"):
    details = {"app_name": "OmeTV", "blocked": True}
    event = Event(when, EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT, child, "tab", "ometv", details)
    record_events(engine, [event])


def test_an_urgent_alert_is_at_the_top_of_home_with_the_helplines(auth, engine, sam, clock):
    auth.login()
    worrying(engine, clock() - timedelta(hours=2))
    ordinary(engine, clock() - timedelta(minutes=5))  # newer, but not urgent
    page = auth.client.get("/").get_data(as_text=True)
    top = page.index('class="card urgent"')
    assert top < page.index('class="card child"')  # above every child's card
    card = page[top : page.index("</section>", top)]
    assert "Needs you today: Sam" in card and "self-harm" in card
    assert "Please make time today to check in with Sam, calmly and without blame" in card
    assert "No need to act in a hurry" not in page
    assert 'href="tel:116123"' in card and "Samaritans" in card  # the stored helplines
    assert 'href="tel:08001111"' in card and "Childline" in card
    assert "text SHOUT to 85258" in card and "999" in card
    assert 'href="/help/self-harm"' in card  # the concern's own guide
    assert "houserules " not in card.lower()  # no command for a carer to type
    assert 'style="' not in page and "<script>" not in page  # the CSP holds: no inline code
    assert 'href="/alerts?child=Sam">2</a>' in page  # urgent ones count as unread alerts


def test_once_seen_the_urgent_card_leaves_home(auth, engine, sam, clock):
    auth.login()
    event = worrying(engine, clock() - timedelta(hours=1))
    (row,) = list_events(engine)
    assert row.severity is Severity.URGENT and event.details["routes"]
    response = auth.post(f"/alerts/{row.id}/ack", {"back": "/"}, page="/")
    assert response.status_code == 302 and response.location == "/"  # back on Home
    page = auth.client.get("/").get_data(as_text=True)
    assert 'class="card urgent"' not in page and "Marked as seen" in page
    away = auth.post(f"/alerts/{row.id}/ack", {"back": "//elsewhere.example"}, page="/")
    assert away.location.startswith("/alerts")  # never sent off the dashboard


def test_an_ordinary_alert_gets_no_urgent_card(auth, engine, sam, clock):
    auth.login()
    ordinary(engine, clock())
    worrying(engine, clock(), terms="is it ok to have an older boyfriend")  # grooming: an alert
    page = auth.client.get("/").get_data(as_text=True)
    assert 'class="card urgent"' not in page and "Needs you today" not in page


def test_the_alerts_page_puts_urgent_first_in_its_own_colour(auth, engine, sam, clock):
    auth.login()
    worrying(engine, clock() - timedelta(days=1), terms="someone is threatening to share my nudes")
    for minutes in range(3):
        ordinary(engine, clock() - timedelta(minutes=minutes))
    page = auth.client.get("/alerts").get_data(as_text=True)
    cards = re.findall(r'<li id="event-\d+" class="([^"]+)"', page)
    assert cards[0] == "card alert urgent" and all("urgent" not in c for c in cards[1:])
    first = page[page.index('class="card alert urgent"') :]
    first = first[: first.index("</li>\n</ul>") if "</li>\n</ul>" in first else None]
    assert 'class="sev sev-urgent">Urgent: today<' in page
    assert "check in with Sam, calmly and without blame" in first
    assert "CEOP" in first and "Childline" in first  # sextortion's own routes
    assert 'href="/help/sextortion"' in first
    assert "No need to act in a hurry" not in page


def test_the_talk_page_offers_the_concerns_prompt_first(auth, engine, sam, clock):
    auth.login()
    ordinary(engine, clock() - timedelta(minutes=5))
    worrying(engine, clock() - timedelta(hours=3))
    page = auth.client.get("/talk").get_data(as_text=True)
    first = page.split('name="prompt_id" value="')[1].split('"')[0]
    assert first == "search-something-on-your-mind"
    top = page.index('class="prompt card urgent"')
    assert top < page.index('value="search-something-on-your-mind"')
    assert "Talk today, calmly: Sam may need you. It is never their fault." in page
    assert "Why now: Urgent, talk today: Worrying search" in page
    assert 'href="/help/self-harm"' in page
