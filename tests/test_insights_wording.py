"""Every event kind in a parent's words: the facts are there, the tone stays calm."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agent.events import Event, EventKind, Severity
from agent.events.registry import describe

TZ = ZoneInfo("Europe/London")
AT = datetime(2026, 11, 20, 23, 10, 5, tzinfo=UTC)
PHONE = "02:00:00:00:00:21"
NAMES = {PHONE: "Sam's phone"}


def ev(kind: EventKind, app: str | None = None, **details: object) -> Event:
    return Event(AT, kind, Severity.NOTICE, "Sam", PHONE, app, dict(details))


@pytest.mark.parametrize(
    ("event", "words"),
    [
        (ev(EventKind.NEW_DEVICE, mac=PHONE), ["new device", "23:10", PHONE, "Devices page"]),
        (
            ev(EventKind.FIRST_APP, "discord", app_name="Discord", flags=["video_chat"]),
            ["Sam used Discord for the first time (Sam's phone, 23:10)", "video calls"],
        ),
        (ev(EventKind.FIRST_APP, "youtube", app_name="YouTube", flags=[]), ["YouTube"]),
        (ev(EventKind.FIRST_SITE, site="bbc.co.uk"), ["Sam visited bbc.co.uk"]),
        (
            ev(
                EventKind.VIDEO_CHAT,
                "zoom",
                app_name="Zoom",
                minutes=20,
                start="2026-11-19T16:00:30+00:00",
                end="2026-11-19T16:19:33+00:00",
            ),
            ["video call on Zoom from 16:00 to 16:19 (20 minutes)"],
        ),  # fmt: skip
        (
            ev(
                EventKind.VIDEO_CHAT,
                None,
                site="meet.example",
                minutes=3,
                start="2026-11-19T16:00:30+00:00",
                end="2026-11-19T16:02:33+00:00",
            ),
            ["video call on meet.example"],
        ),  # fmt: skip
        (
            ev(EventKind.RANDOM_VIDEO_CHAT, "ometv", app_name="OmeTV", blocked=False),
            ["Sam's phone looked up OmeTV at 23:10", "It was not blocked.", "calm chat"],
        ),
        (
            ev(EventKind.AGE_BLOCKED, "tiktok", app_name="TikTok", minimum_age=13),
            ["TikTok was blocked several times", "13 and over", "worth talking about"],
        ),
        (ev(EventKind.BYPASS_SUSPECTED, signal="canary"), ["Firefox", "Nothing to do"]),
        (ev(EventKind.BYPASS_SUSPECTED, signal="private-relay"), ["Private Relay"]),
        (
            ev(EventKind.BYPASS_SUSPECTED, signal="silent", last_dns="2026-11-19T18:37:07+00:00"),
            ["has not used HouseRules since 18:37", "may be idle"],
        ),
        (
            ev(EventKind.BYPASS_SUSPECTED, signal="encrypted-dns", name="dns.google", blocked=True),
            ["private DNS service (dns.google)", "HouseRules blocked it", "on their own"],
        ),
        (
            ev(
                EventKind.LATE_NIGHT,
                "ometv",
                app_name="OmeTV",
                schedule="Bedtime",
                window="21:00-07:00",
                blocked=True,
            ),
            ["in use at 23:10, during Bedtime (21:00-07:00): OmeTV (blocked)"],
        ),  # fmt: skip
        (
            ev(EventKind.ADDRESS_FLOOD, skipped=199_990),
            [
                "Many new addresses appeared at once: something on the network may be forging",
                "199990 more than a home shows",
                "from 23:10",
                "restart the router",
            ],
        ),  # fmt: skip
        (
            ev(
                EventKind.ADDRESS_CLASH,
                ip="192.168.1.50",
                mac="02:00:00:00:00:66",
                device_name="Mum's laptop",
            ),
            [
                "A device may be using Mum's laptop's address",
                "(02:00:00:00:00:66) answered at 192.168.1.50",
                "rules for unknown devices",
                "confirm its Wi-Fi address",
            ],
        ),  # fmt: skip
    ],
)
def test_describe(event: Event, words: list[str]) -> None:
    text = describe(event, TZ, NAMES)
    for w in words:
        assert w in text
    for blame in ("caught", "sneak", "naughty", "disobey", "illegal"):
        assert blame not in text.lower()


def test_the_proxy_and_dashboard_events_read_in_plain_words():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from agent.events import Event, EventKind, Severity
    from agent.events.registry import describe

    tz = ZoneInfo("Europe/London")
    when = datetime(2026, 11, 20, 19, 5, tzinfo=UTC)
    contact = Event(when, EventKind.NEW_CONTACT, Severity.ALERT, "Sam", None, "roblox",
                    {"service_name": "Roblox", "contact": "Builder_77", "kind": "friend_request",
                     "flags": ["chat_with_strangers"]})  # fmt: skip
    asked = {"concern_title": "Self-harm", "prompt": {"opener": "How are you doing?"}}
    search = Event(when, EventKind.CONCERNING_SEARCH, Severity.ALERT, "Sam", None, None, asked)
    wants = {"request": "unblock", "site": "scratch.mit.edu", "message": "homework"}
    request = Event(when, EventKind.CHILD_REQUEST, Severity.ALERT, "Sam", None, None, wants)
    assert describe(contact, tz) == (
        "Sam has a friend request from Builder_77 on Roblox. Roblox lets strangers chat, "
        "so it is worth asking who they are and how they met."
    )
    words = describe(search, tz)
    assert "self-harm" in words and "19:05" in words and "never their fault" in words
    assert "How are you doing?" in words
    assert describe(request, tz) == (
        'Sam asked at 19:05 to unblock scratch.mit.edu. They wrote: "homework" '
        "You can say yes or no on the dashboard."
    )
