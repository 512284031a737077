"""The digest's content and its two renderings, built from plain data (no database, no clock)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.digest.build import build_digest
from agent.digest.model import ChildWeek, Digest, Period, Request
from agent.digest.render_html import render_html
from agent.digest.render_text import render_text
from agent.digest.words import duration, event_words
from agent.events import Event, EventKind, Severity
from agent.rules.catalog import load_catalog
from agent.store.rollups import DayTotal, Usage, WeekSummary
from agent.talk.prompts import default_library

from prompttools import cites_a_letter

TZ = ZoneInfo("Europe/London")
MON = date(2026, 11, 16)
DUE = datetime(2026, 11, 22, 18, 0, tzinfo=TZ)
PERIOD = Period(DUE - timedelta(days=7), DUE, MON, MON + timedelta(days=6), "2026-W47")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 16 + day, hour, minute, tzinfo=TZ)


def summary(child: str, minutes: list[int], previous: int, apps: dict[str, int]) -> WeekSummary:
    days = tuple(DayTotal(MON + timedelta(days=i), m) for i, m in enumerate(minutes))
    return WeekSummary(
        child=child,
        monday=MON,
        days=days,
        minutes=sum(minutes),
        previous_week_minutes=previous,
        apps=tuple(Usage("app", a, m, m * 3, 0) for a, m in apps.items()),
        sites=(Usage("site", "bbc.co.uk", 40, 90, 0),),
        blocked_by_reason=(),
        hours=(0,) * 24,
    )


def busy_week() -> ChildWeek:
    events = (
        Event(at(1, 16, 5), EventKind.FIRST_APP, Severity.NOTICE, "Sam", "aa:bb", "discord", id=1),
        Event(at(1, 17), EventKind.FIRST_SITE, Severity.INFO, "Sam", details={"site": "x.org"}),
        Event(
            at(2, 18),
            EventKind.VIDEO_CHAT,
            Severity.INFO,
            "Sam",
            "aa:bb",
            "whatsapp",
            {"start": at(2, 18).isoformat(), "end": at(2, 18, 40).isoformat(), "minutes": 41},
        ),
        Event(
            at(2, 23, 10),
            EventKind.LATE_NIGHT,
            Severity.NOTICE,
            "Sam",
            "aa:bb",
            "youtube",
            {"schedule": "Bedtime", "window": "21:00-07:00"},
        ),
        Event(
            at(3, 16),
            EventKind.AGE_BLOCKED,
            Severity.NOTICE,
            "Sam",
            "aa:bb",
            "tiktok",
            {"minimum_age": 13},
        ),  # fmt: skip
        Event(
            at(4, 16),
            EventKind.AGE_BLOCKED,
            Severity.NOTICE,
            "Sam",
            "aa:bb",
            "tiktok",
            {"minimum_age": 13},
        ),  # fmt: skip
        Event(
            at(4, 19, 2),
            EventKind.RANDOM_VIDEO_CHAT,
            Severity.ALERT,
            "Sam",
            "aa:bb",
            "ometv",
            {"blocked": True, "app_name": "OmeTV"},
            id=7,
        ),
        Event(
            at(5, 20),
            EventKind.BYPASS_SUSPECTED,
            Severity.ALERT,
            "Sam",
            "aa:bb",
            None,
            {"signal": "encrypted-dns", "name": "dns.google", "blocked": True},
            id=8,
            acknowledged=True,
        ),
        Event(
            at(5, 21),
            EventKind.BYPASS_SUSPECTED,
            Severity.NOTICE,
            "Sam",
            "aa:bb",
            details={"signal": "canary"},
        ),  # fmt: skip
    )
    requests = (
        Request(at(3, 17, 30), "more_time", "approved", minutes=30, message="finishing a game"),
        Request(at(4, 9), "unblock", "pending", app="roblox"),
    )
    return ChildWeek(
        name="Sam",
        age=11,
        summary=summary("Sam", [60, 90, 30, 0, 120, 200, 45], 480, {"roblox": 190, "discord": 80}),
        events=events,
        requests=requests,
        devices={"aa:bb": "Sam's tablet"},
    )


def quiet_week(name: str = "Alex", minutes: int = 0) -> ChildWeek:
    mins = [minutes] + [0] * 6
    return ChildWeek(name, 9, summary(name, mins, 0, {}), events=(), requests=())


def build(*weeks: ChildWeek, url: str = "http://192.168.1.2:8080/") -> Digest:
    return build_digest(
        "Nana",
        PERIOD,
        weeks,
        library=default_library(),
        catalog=load_catalog(),
        tz=TZ,
        dashboard_url=url,
    )


def lists(digest: Digest, child: int = 0) -> dict[str, list[str]]:
    return {
        head: [f"{i.text} | {i.note}" for i in items]
        for head, items in digest.sections[child].lists
    }


def test_a_busy_week_has_every_part_in_order() -> None:
    d = build(busy_week(), quiet_week())
    sam = d.sections[0]
    assert sam.headline == (
        "About 9 h 05 min online this week, 1 h 05 min more than the week before (an estimate)."
    )
    assert [b.label for b in sam.days] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert [(b.label, b.value) for b in sam.apps] == [
        ("Roblox", "3 h 10 min"),
        ("Discord", "1 h 20 min"),
    ]  # noqa: E501
    found = lists(d)
    assert list(found) == [
        "New this week",
        "Video calls",
        "Late at night",
        "Blocked attempts",
        "Alerts",
        "Sam asked for",
    ]
    assert found["New this week"] == [
        "Discord (app), first used Tue | For 13+, Sam is 11; allows chat with strangers, "
        "live streaming and video calls",
        "x.org (website), first visited Tue | ",
    ]
    assert "WhatsApp from 18:00 to 18:40 (41 minutes)" in found["Video calls"][0]
    assert found["Late at night"][0].startswith("Wed: Sam's tablet was in use at 23:10")
    assert found["Blocked attempts"] == [
        "TikTok (for 13+): blocked again and again on 2 days (Thu, Fri) | Blocked by its age "
        "limit. Counted in days, not lookups: an app asks many times each time it is opened."
    ]
    alerts = found["Alerts"]
    assert (
        alerts[0].startswith("Fri: Sam's tablet looked up OmeTV")
        and "Not looked at yet" in alerts[0]
    )
    assert "A parent has looked at this." in alerts[1]
    assert found["Sam asked for"] == [
        'Thu 17:30: more time (30 min): "finishing a game" | Approved',
        "Fri 09:00: Roblox to be unblocked | Pending",
    ]
    assert sam.alerts == 2 and sam.unacknowledged == 1
    assert d.subject == "HouseRules weekly: Sam and Alex, 16–22 Nov (2 alerts)"


def test_starters_come_from_the_week_and_name_their_letters() -> None:
    sam = build(busy_week()).sections[0]
    assert 2 <= len(sam.starters) <= 3
    library = default_library()
    for starter in sam.starters:
        assert starter.sources and all(cites_a_letter(c) for c in starter.sources)
        prompt = next(p for p in library.prompts if p.opener == starter.opener)
        assert [library.letters[f].citation for f in prompt.sources] == list(starter.sources)
    assert sam.starters[0].why.startswith("Alert: ")


def test_a_quiet_week_is_one_line_and_one_starter() -> None:
    d = build(quiet_week("Alex"), quiet_week("Jo", minutes=75))
    alex, jo = d.sections
    assert alex.quiet_line == "A quiet week: HouseRules saw no activity from Alex's devices."
    assert jo.quiet_line == "A quiet week for Jo: nothing new, no alerts, nothing late at night."
    assert alex.lists == () and len(alex.starters) == 1 and len(jo.starters) == 1
    assert alex.starters[0].opener != jo.starters[0].opener  # two quiet children, two ideas
    assert d.subject.startswith("HouseRules weekly: a quiet week for Alex and Jo")
    text = render_text(d)
    assert "New this week" not in text and "Alerts" not in text
    assert "A quiet week for Jo" in text


def test_without_a_request_store_requests_come_from_the_events() -> None:
    asked = Event(
        at(2, 17), EventKind.CHILD_REQUEST, Severity.ALERT, "Sam", app="minecraft",
        details={"request": "unblock", "message": "for school"},
    )  # fmt: skip
    week = ChildWeek("Sam", 11, summary("Sam", [10] * 7, 0, {}), (asked,), requests=None)
    found = lists(build(week))
    assert found["Sam asked for"] == ['Wed 17:00: Minecraft to be unblocked: "for school" | ']
    assert "Alerts" not in found  # a request is shown once, as a request


def test_long_lists_are_cut_with_a_pointer_to_the_dashboard() -> None:
    firsts = tuple(
        Event(
            at(0, 10, i), EventKind.FIRST_SITE, Severity.INFO, "Sam", details={"site": f"s{i}.org"}
        )  # noqa: E501
        for i in range(9)
    )
    week = ChildWeek("Sam", 11, summary("Sam", [10] * 7, 0, {}), firsts, requests=())
    items = lists(build(week))["New this week"]
    assert len(items) == 5 and items[-1] == "and 5 more: see the dashboard | "


def test_the_text_part_reads_on_its_own() -> None:
    text = render_text(build(busy_week(), quiet_week()))
    assert text.startswith("Hello Nana. Here is what mattered online for Sam and Alex")
    assert "SAM (11)\n========" in text and "ALEX (9)" in text
    assert re.search(r"^  Sat  #{24} 3 h 20 min$", text, re.M)  # the busiest day, full width
    assert "  - Fri: Sam's tablet looked up OmeTV" in text
    assert "Things to talk about:" in text and "Source: " in text
    assert "http://192.168.1.2:8080/" in text
    assert max(len(line) for line in text.splitlines() if "http" not in line) <= 72


def test_the_html_part_is_safe_for_mail_clients() -> None:
    week = busy_week()
    evil = Event(at(0, 9), EventKind.FIRST_SITE, Severity.INFO, "Sam",
                 details={"site": "<script>alert(1)</script>.org"})  # fmt: skip
    html = render_html(build(ChildWeek(week.name, 11, week.summary, (*week.events, evil), ())))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "<svg" not in html and "<style" not in html
    assert "src=" not in html and "url(" not in html  # nothing fetched from anywhere
    assert 'href="http://192.168.1.2:8080/"' in html
    assert "Discord" in html and "&ldquo;" in html and cites_a_letter(html)
    assert re.search(r'<td width="100%" style="background:#4c9a85', html)  # Saturday's bar


def test_no_dashboard_link_when_there_is_no_address() -> None:
    d = build(quiet_week(), url="")
    assert "dashboard:" not in render_text(d) and "Open the dashboard" not in render_html(d)


@pytest.mark.parametrize(
    ("minutes", "words"), [(0, "0 min"), (45, "45 min"), (60, "1 h"), (125, "2 h 05 min")]
)
def test_duration(minutes: int, words: str) -> None:
    assert duration(minutes) == words


def test_newer_event_kinds_have_words() -> None:
    contact = Event(at(0, 9), EventKind.NEW_CONTACT, Severity.ALERT, "Sam", app="roblox",
                    details={"service_name": "Roblox", "contact": "gamer42", "stranger": True,
                             "flags": ["chat_with_strangers"]})  # fmt: skip
    assert event_words(contact, TZ) == (
        "Sam has a new contact on Roblox: gamer42. It is someone they had not talked to there "
        "before: worth asking who."
    )
    search = Event(at(0, 9), EventKind.CONCERNING_SEARCH, Severity.ALERT, "Sam",
                   details={"concern_title": "self-harm", "terms": "secret words",
                            "guide": {"id": "self-harm", "title": "Self-harm"}})  # fmt: skip
    words = event_words(search, TZ)
    assert "self-harm" in words and "secret words" not in words  # the terms stay on the box


def test_urgent_alerts_come_first_in_the_digest() -> None:
    from dataclasses import replace

    week = busy_week()
    worry = Event(
        at(0, 21), EventKind.CONCERNING_SEARCH, Severity.URGENT, "Sam", "tab", None,
        {"concern_title": "Self-harm", "terms": "how to hide self harm"},
    )  # fmt: skip
    d = build(replace(week, events=(*week.events, worry)))
    alerts = lists(d)["Alerts"]
    assert "self-harm" in alerts[0] and "Not looked at yet" in alerts[0]  # Monday, yet first
    assert alerts[1].startswith("Fri: Sam's tablet looked up OmeTV")
    assert d.sections[0].alerts == 3
