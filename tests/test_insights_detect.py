"""The detectors as tables: (row, state) -> event kind, severity and dedupe key; and the
video-chat sessions fed rows in order."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from agent.insights import detect
from agent.insights.detect import Context
from agent.insights.sessions import SESSION_GAP, Sessions
from agent.insights.things import Classifier
from agent.rules.catalog import load_catalog
from agent.rules.household import Child, Device, Household, Schedule
from agent.store.insight_state import LoggedRow

TZ = ZoneInfo("Europe/London")
SAM = Child(1, "Sam", date(2015, 3, 10))  # 11
ALEX = Child(2, "Alex", date(2011, 6, 1))  # 15
SAM_PHONE = Device(1, "02:00:00:00:00:21", "192.168.1.21", "Sam's phone", "child", 1)
ALEX_LAPTOP = Device(2, "02:00:00:00:00:32", "192.168.1.32", "Alex's laptop", "child", 2)
PARENT = Device(3, "02:00:00:00:00:11", "192.168.1.11", "Parent's phone", "adult")
SPARE = Device(4, "02:00:00:00:00:44", "192.168.1.44", None, "unassigned")
BEDTIME = Schedule(1, "Bedtime", 1, frozenset(range(7)), time(21), time(7), block_all=True)
HOMEWORK = Schedule(2, "Homework", 1, frozenset(range(5)), time(16), time(18), block_all=True)
EVENING = Schedule(3, "Evening", 2, frozenset(range(7)), time(20), time(23), block_all=True)
HOUSEHOLD = Household(
    children=(SAM, ALEX),
    devices=(SAM_PHONE, ALEX_LAPTOP, PARENT, SPARE),
    schedules=(BEDTIME, HOMEWORK, EVENING),
)
CATALOG = load_catalog()
CTX = Context(HOUSEHOLD, Classifier(CATALOG), TZ)
MON = datetime(2026, 11, 16, tzinfo=TZ)  # a Monday (London is UTC+0 in November)


def ts(hour: int, minute: int = 0, second: int = 0, day: int = 16) -> float:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=TZ).timestamp()


def row(
    name: str, *, at: float = 0.0, child: str | None = "Sam", dev: Device = SAM_PHONE,
    action: str = "allow", rule: str = "default", category: str | None = None,
    app: str | None = None, mac: bool = True,
) -> LoggedRow:  # fmt: skip
    return LoggedRow(
        1, at or ts(12), dev.ip or "", dev.mac if mac else None, child, name, action, rule,
        category, app,
    )  # fmt: skip


# Bypass -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (
            row("dns.google", action="block", rule="protection:bypass", category="bypass"),
            ("alert", "Sam", "bypass:encrypted-dns:02:00:00:00:00:21:2026-11-16"),
        ),
        (
            row("psiphon3.com", action="block", rule="protection:vpn-proxy", app="psiphon"),
            ("alert", "Sam", "bypass:vpn-proxy:02:00:00:00:00:21:2026-11-16"),
        ),
        (  # the canary names no child: the device says whose it is
            row(
                "use-application-dns.net",
                child=None,
                dev=ALEX_LAPTOP,
                action="block",
                rule="canary",
            ),
            ("notice", "Alex", "bypass:canary:02:00:00:00:00:32:2026-W47"),
        ),  # fmt: skip
        (
            row("mask.icloud.com", action="block", rule="private-relay", category="vpn-proxy"),
            ("info", "Sam", "bypass:private-relay:02:00:00:00:00:21:2026-11-16"),
        ),
        (  # a device known by IP only
            row("dns.google", action="block", rule="protection:bypass", mac=False),
            ("alert", "Sam", "bypass:encrypted-dns:192.168.1.21:2026-11-16"),
        ),
        (row("use-application-dns.net", child=None, dev=PARENT, rule="canary"), None),  # adult
        (row("dns.google", child=None, dev=PARENT, category="bypass"), None),
        (row("www.bbc.co.uk"), None),
    ],
)
def test_bypass(r: LoggedRow, expected: tuple[str, str, str] | None) -> None:
    found = detect.bypass(r, CTX)
    if expected is None:
        assert found is None
        return
    assert found is not None
    assert (str(found.event.severity), found.event.child, found.key) == expected
    assert found.event.kind == "bypass_suspected"


# Random video chat and age -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("r", "app", "key"),
    [
        (row("ome.tv", action="block", rule="age:ometv", app="ometv"), "ometv",
         "random_video_chat:Sam:ometv:2026-11-16T12"),
        (row("ome.tv", app="ometv", at=ts(12, 59, 59)), "ometv",
         "random_video_chat:Sam:ometv:2026-11-16T12"),  # same hour: the same alert
        (row("chatroulette.com", app="chatroulette", at=ts(13)), "chatroulette",
         "random_video_chat:Sam:chatroulette:2026-11-16T13"),
        (row("new-rvc.example", category="random-video-chat", action="block",
             rule="list:random-video-chat"), None,
         "random_video_chat:Sam:new-rvc.example:2026-11-16T12"),  # from a list, no app
        (row("ome.tv", child=None, dev=PARENT, app="ometv"), "ometv", None),
        (row("zoom.us", app="zoom"), "zoom", None),
    ],
)  # fmt: skip
def test_random_video_chat(r: LoggedRow, app: str | None, key: str | None) -> None:
    found = detect.random_video_chat(r, app, CTX)
    assert (found.key if found else None) == key
    if found is not None:
        assert str(found.event.severity) == "alert"
        assert found.event.details["blocked"] is (r.action == "block")


def test_age_blocked_needs_three_attempts_within_ten_minutes() -> None:
    attempts: dict[tuple[str, str], list[float]] = {}

    def attempt(at: float, rule: str = "age:tiktok") -> str | None:
        r = row("www.tiktok.com", at=at, action="block", rule=rule, app="tiktok")
        found = detect.age_blocked(r, "tiktok", attempts, CTX)
        return found.key if found else None

    assert attempt(ts(17, 0)) is None
    assert attempt(ts(17, 9)) is None
    assert attempt(ts(17, 19, 30)) is None  # the first one is more than 10 minutes back
    assert attempt(ts(17, 25)) is None  # and so is the second now
    assert attempts[("Sam", "tiktok")] == [ts(17, 19, 30), ts(17, 25)]
    found = detect.age_blocked(
        row("www.tiktok.com", at=ts(17, 26), action="block", rule="age:tiktok", app="tiktok"),
        "tiktok", attempts, CTX,
    )  # fmt: skip
    assert found is not None and found.key == "age_blocked:Sam:tiktok:2026-11-16"
    assert found.event.time == datetime.fromtimestamp(ts(17, 19, 30), UTC)
    assert found.event.details["minimum_age"] == 13 and found.event.details["age"] == 11
    assert str(found.event.severity) == "notice"
    # Other blocks are not about age; allowed queries are not attempts.
    assert attempt(ts(18), rule="schedule:Homework") is None
    allowed = row("www.tiktok.com", at=ts(18), app="tiktok")
    assert detect.age_blocked(allowed, "tiktok", attempts, CTX) is None


@pytest.mark.parametrize(
    ("neighbours", "last", "now", "expected"),
    [
        ({"192.168.1.32": ALEX_LAPTOP.mac}, ts(18, 37), ts(21), "bypass:silent:02:00:00:00:00:32:"),
        ({"192.168.1.32": ALEX_LAPTOP.mac}, ts(20, 30), ts(21), None),  # 30 minutes: fine
        ({}, ts(18, 37), ts(21), None),  # not on the network: out, not silent
        ({"192.168.1.32": ALEX_LAPTOP.mac}, None, ts(21), None),  # never used the box
    ],
)
def test_silent_devices(
    neighbours: dict[str, str], last: float | None, now: float, expected: str | None
) -> None:
    last_dns = {ALEX_LAPTOP.mac: last} if last is not None else {}
    found = detect.silent_devices(HOUSEHOLD, neighbours, last_dns, now, TZ)
    keys = [f.key for f in found]
    assert keys == ([expected + str(int(last))] if expected and last else [])
    if found:
        event = found[0].event
        assert event.child == "Alex" and str(event.severity) == "notice"
        assert event.time == datetime.fromtimestamp(last + 3600, UTC)  # type: ignore[operator]
        assert event.details["silent_minutes"] == 143


def test_adults_devices_are_never_silent_suspects() -> None:
    found = detect.silent_devices(HOUSEHOLD, {PARENT.ip: PARENT.mac}, {PARENT.mac: 0.0}, ts(21), TZ)
    assert found == []


# First uses and late nights -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "severity"),
    [
        ("app", "roblox", "notice"),  # chat with strangers
        ("app", "zoom", "notice"),  # video calls
        ("app", "youtube", "info"),
        ("app", "chatgpt", "info"),
        ("site", "bbc.co.uk", "info"),
    ],
)
def test_first_use_severity(kind: str, name: str, severity: str) -> None:
    found = detect.first_use("Sam", SAM_PHONE.mac, kind, name, int(ts(16) // 60), CTX)
    assert found is not None
    assert str(found.event.severity) == severity
    assert found.key == f"first_{kind}:Sam:{name}"


@pytest.mark.parametrize(
    ("child", "at", "schedule"),
    [
        ("Sam", datetime(2026, 11, 16, 23, 10, tzinfo=TZ), "Bedtime"),
        ("Sam", datetime(2026, 11, 17, 6, 59, tzinfo=TZ), "Bedtime"),  # past midnight
        ("Sam", datetime(2026, 11, 17, 7, 0, tzinfo=TZ), None),
        ("Sam", datetime(2026, 11, 16, 16, 30, tzinfo=TZ), None),  # Homework: not a night
        ("Alex", datetime(2026, 11, 16, 21, 0, tzinfo=TZ), "Evening"),  # starts at 20:00
        ("Nobody", datetime(2026, 11, 16, 23, 0, tzinfo=TZ), None),
    ],
)
def test_night_window(child: str, at: datetime, schedule: str | None) -> None:
    found = detect.night_window(child, at, CTX)
    assert (found.name if found else None) == schedule


def test_late_night_is_one_event_per_night() -> None:
    minutes = [int(ts(h, m, day=d) // 60) for d, h, m in ((16, 23, 10), (17, 1, 0), (17, 23, 5))]
    minutes.append(int(ts(12, day=17) // 60))  # daytime: not late
    found = detect.late_night("Sam", SAM_PHONE.mac, minutes, "app:ometv", True, CTX)
    assert [(f.key, f.event.app) for f in found] == [
        ("late_night:Sam:2026-11-16", "ometv"),
        ("late_night:Sam:2026-11-17", "ometv"),
    ]
    assert found[0].event.details["window"] == "21:00-07:00"


# Video-chat sessions ------------------------------------------------------------------------


def feed(sessions: Sessions, rows: list[tuple[float, str, str | None]]) -> list:
    out = []
    last: tuple[str, float] | None = None
    for at, name, app in rows:
        r = row(name, at=at, app=app)
        thing = CTX.classifier.thing(name, app)
        out += sessions.feed(r, SAM_PHONE.mac or "", thing, last)
        if thing is not None:
            last = (f"{thing[0]}:{thing[1]}", at)
    return out


def test_a_zoom_call_is_one_session() -> None:
    sessions = Sessions({}, CTX.classifier, TZ)
    call = [(ts(16, m, 10), "zoom.us", "zoom") for m in range(0, 20, 2)] + [
        (ts(16, 19, 40), "us04web.zoom.us", "zoom")
    ]
    assert feed(sessions, call) == []
    assert sessions.close_idle(ts(16, 22)) == []  # not quiet long enough yet
    (closed,) = sessions.close_idle(ts(16, 25))
    event = closed.event
    assert (event.kind, event.app, event.child) == ("video_chat", "zoom", "Sam")
    assert event.details["minutes"] == 20 and event.details["via"] == "app"
    assert closed.key == f"video_chat:{SAM_PHONE.mac}:app:zoom:{int(ts(16, 0, 10))}"
    assert sessions.open == {}


def test_a_gap_splits_sessions_and_a_lone_lookup_is_no_call() -> None:
    sessions = Sessions({}, CTX.classifier, TZ)
    rows = [(ts(16, 0), "zoom.us", "zoom"), (ts(16, 3), "zoom.us", "zoom")]
    rows += [(ts(16, 3) + SESSION_GAP + 1, "zoom.us", "zoom")]  # a new session starts
    (first,) = feed(sessions, rows)
    assert first.event.details["minutes"] == 4
    assert sessions.close_idle(ts(18)) == []  # the second was a single lookup


def test_webrtc_on_a_site_and_apps_that_can_video_chat() -> None:
    sessions = Sessions({}, CTX.classifier, TZ)
    rows = [(ts(19, 0), "www.example-meet.org", None), (ts(19, 1), "stun.l.google.com", None)]
    rows += [(ts(19, m), "www.example-meet.org", None) for m in range(2, 12, 3)]
    rows += [(ts(20, m), "i.instagram.com", "instagram") for m in range(0, 30, 2)]  # no call
    assert feed(sessions, rows) == []
    (call,) = sessions.close_idle(ts(21))
    assert (call.event.app, call.event.details["site"]) == (None, "example-meet.org")
    assert call.event.details["via"] == "webrtc" and call.event.details["minutes"] == 11


def test_blocked_and_adult_queries_open_no_session() -> None:
    sessions = Sessions({}, CTX.classifier, TZ)
    r = row("zoom.us", app="zoom", action="block", rule="age:zoom")
    assert sessions.feed(r, "x", ("app", "zoom"), None) == [] and sessions.open == {}
    r = row("zoom.us", app="zoom", child=None, dev=PARENT)
    assert sessions.feed(r, "x", ("app", "zoom"), None) == [] and sessions.open == {}
