"""The events store on a real SQLite file: dedupe, ranges, acknowledgement, export, forgetting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from agent.events import Event, EventKind, Severity
from agent.store import events as store
from agent.store.db import init_db, make_engine
from agent.store.events import KeyedEvent

T0 = datetime(2026, 11, 16, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Engine:
    eng = make_engine(store_url)
    init_db(eng)
    return eng


def ev(
    minutes: int, kind: EventKind = EventKind.FIRST_APP, child: str | None = "Sam", **kw
) -> Event:
    severity = kw.pop("severity", Severity.INFO)
    return Event(T0 + timedelta(minutes=minutes), kind, severity, child, **kw)


def test_round_trip(engine: Engine) -> None:
    original = ev(5, app="discord", device="aa:bb", details={"flags": ["video_chat"], "n": 2})
    assert store.record_events(engine, [KeyedEvent(original, "first_app:Sam:discord")]) == 1
    (back,) = store.list_events(engine)
    assert back.time == original.time and back.time.tzinfo is not None
    assert (back.kind, back.severity, back.child, back.device, back.app) == (
        "first_app", "info", "Sam", "aa:bb", "discord",
    )  # fmt: skip
    assert back.details == {"flags": ["video_chat"], "n": 2}
    assert back.id is not None and back.acknowledged is False


def test_duplicates_are_skipped_by_key(engine: Engine) -> None:
    first = [KeyedEvent(ev(0), "k1"), KeyedEvent(ev(1), "k2"), KeyedEvent(ev(2), "k1")]
    assert store.record_events(engine, first) == 2
    assert store.record_events(engine, [KeyedEvent(ev(9), "k2"), KeyedEvent(ev(3), "k3")]) == 1
    assert [e.time for e in store.list_events(engine)] == [
        T0 + timedelta(minutes=m) for m in (3, 1, 0)
    ]
    # Bare events get a key from their fields, so the same event twice is stored once.
    assert store.record_events(engine, [ev(20), ev(20)]) == 1
    assert store.record_events(engine, []) == 0


def test_recording_inside_a_callers_transaction(engine: Engine) -> None:
    with engine.connect() as conn:
        assert store.record_events(conn, [KeyedEvent(ev(0), "a")]) == 1
        conn.rollback()
    assert store.list_events(engine) == []
    with Session(engine) as session:
        assert store.record_events(session, [KeyedEvent(ev(0), "a")]) == 1
        session.commit()
    assert len(store.list_events(engine)) == 1


def test_events_between_filters_child_range_and_kind(engine: Engine) -> None:
    store.record_events(
        engine,
        [
            KeyedEvent(ev(0), "a"),
            KeyedEvent(ev(60, EventKind.LATE_NIGHT), "b"),
            KeyedEvent(ev(120, child="Alex"), "c"),
            KeyedEvent(ev(180, EventKind.NEW_DEVICE, child=None), "d"),
        ],
    )
    window = (T0, T0 + timedelta(minutes=120))  # end is exclusive
    assert [e.kind for e in store.events_between(engine, "Sam", *window)] == [
        "first_app",
        "late_night",
    ]
    assert [e.kind for e in store.events_between(engine, "Sam", *window, kinds=["late_night"])] == [
        "late_night"
    ]
    everyone = store.events_between(engine, None, T0, T0 + timedelta(days=1))
    assert [e.child for e in everyone] == ["Sam", "Sam", "Alex", None]
    naive = datetime(2026, 11, 16, 12, 0)  # naive means UTC
    assert len(store.events_between(engine, "Sam", naive, naive + timedelta(hours=1))) == 1


def test_list_events_newest_first_with_limit_and_since(engine: Engine) -> None:
    store.record_events(engine, [KeyedEvent(ev(m, child=c), f"k{m}") for m, c in
                                 ((0, "Sam"), (10, "Alex"), (20, "Sam"), (30, "Sam"))])  # fmt: skip
    assert [e.time.minute for e in store.list_events(engine, limit=2)] == [30, 20]
    assert [e.time.minute for e in store.list_events(engine, child="Sam")] == [30, 20, 0]
    since = T0 + timedelta(minutes=10)
    assert [e.time.minute for e in store.list_events(engine, since=since)] == [30, 20, 10]


def test_acknowledging_alerts(engine: Engine) -> None:
    store.record_events(
        engine,
        [
            KeyedEvent(ev(0, EventKind.RANDOM_VIDEO_CHAT, severity=Severity.ALERT), "a"),
            KeyedEvent(ev(5, EventKind.BYPASS_SUSPECTED, severity=Severity.ALERT), "b"),
            KeyedEvent(ev(9, EventKind.LATE_NIGHT, severity=Severity.NOTICE), "c"),
        ],
    )
    alerts = store.unacknowledged_alerts(engine)
    assert [e.kind for e in alerts] == ["random_video_chat", "bypass_suspected"]
    assert store.acknowledge(engine, alerts[0].id or 0, T0 + timedelta(hours=1)) is True
    assert store.acknowledge(engine, 999, T0) is False
    assert [e.kind for e in store.unacknowledged_alerts(engine)] == ["bypass_suspected"]
    assert [e.acknowledged for e in store.list_events(engine)] == [False, False, True]


def test_export_forget_and_prune(engine: Engine) -> None:
    store.record_events(
        engine,
        [KeyedEvent(ev(0, app="roblox"), "a"), KeyedEvent(ev(10, child="Alex"), "b")]
        + [KeyedEvent(ev(60 * 24 * 400), "c")],
    )
    exported = store.events_for_export(engine, "Sam")
    assert [e["app"] for e in exported] == ["roblox", None]
    assert set(exported[0]) >= {"time", "kind", "severity", "child", "device", "app", "details"}
    assert store.has_events(engine, "Sam") and not store.has_events(engine, "Nobody")
    assert store.prune_events(engine, T0 + timedelta(minutes=5)) == 1
    assert store.forget_child(engine, "Sam") == 1
    assert [e.child for e in store.list_events(engine)] == ["Alex"]


def test_urgent_events_count_as_alerts_and_rank_above_them(engine: Engine) -> None:
    assert Severity.URGENT.rank > Severity.ALERT.rank > Severity.NOTICE.rank
    assert Severity.at_least(Severity.ALERT) == (Severity.ALERT, Severity.URGENT)
    store.record_events(
        engine,
        [
            KeyedEvent(ev(0, EventKind.RANDOM_VIDEO_CHAT, severity=Severity.ALERT), "a"),
            KeyedEvent(ev(5, EventKind.CONCERNING_SEARCH, severity=Severity.URGENT), "u"),
            KeyedEvent(ev(9, EventKind.LATE_NIGHT, severity=Severity.NOTICE), "n"),
        ],
    )
    alerts = store.unacknowledged_alerts(engine)
    assert [e.severity for e in alerts] == [Severity.ALERT, Severity.URGENT]
    assert store.count_unacknowledged_alerts(engine) == 2  # the dashboard's badge
    urgent = store.list_events(engine, severities=[Severity.URGENT])
    assert [e.kind for e in urgent] == ["concerning_search"]
