"""Send records on a real SQLite file: claims are exclusive, outcomes back off, alerts queue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from agent.events import Event, EventKind, Severity
from agent.store import digest as sends
from agent.store.carers import Carer, add_carer, mark_address_refused
from agent.store.db import init_db, make_engine
from agent.store.events import acknowledge, record_events
from agent.store.household import add_child

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
WEEK = "2026-W47"


@pytest.fixture
def engine(store_url: str) -> Engine:
    eng = make_engine(store_url)
    init_db(eng)
    add_child(eng, "Sam", date(2014, 3, 1))
    add_child(eng, "Alex", date(2016, 6, 1))
    return eng


@pytest.fixture
def nana(engine: Engine) -> Carer:
    return add_carer(engine, "Nana", "nana@example.org", ["Sam"], alerts=True, now=NOW)


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_a_week_is_claimed_once(engine: Engine, nana: Carer) -> None:
    first = sends.claim_digest(engine, nana.id, WEEK, NOW, NOW)
    assert first is not None and first.status == "sending" and first.attempts == 1
    assert sends.claim_digest(engine, nana.id, WEEK, NOW, later(1)) is None  # being sent
    done = sends.finish(engine, first, later(2))
    assert done.status == "sent" and done.sent_at == later(2)
    assert sends.claim_digest(engine, nana.id, WEEK, NOW, later(86_400)) is None  # sent
    assert sends.claim_digest(engine, nana.id, "2026-W48", NOW, later(3)) is not None


def test_failures_back_off_then_succeed(engine: Engine, nana: Carer) -> None:
    waits = []
    t = NOW
    for _ in range(6):
        claim = sends.claim_digest(engine, nana.id, WEEK, NOW, t)
        assert claim is not None
        done = sends.finish(engine, claim, t, error="451 try later")
        assert done.status == "failed" and done.next_try is not None
        waits.append((done.next_try - t).total_seconds())
        assert sends.claim_digest(engine, nana.id, WEEK, NOW, done.next_try - timedelta(1)) is None
        t = done.next_try
    assert waits == [60, 300, 1800, 7200, 21600, 21600]
    claim = sends.claim_digest(engine, nana.id, WEEK, NOW, t)
    assert claim is not None and claim.attempts == 7
    assert sends.finish(engine, claim, t).status == "sent"


def test_a_send_interrupted_by_a_crash_is_tried_again_after_an_hour(
    engine: Engine, nana: Carer
) -> None:
    assert sends.claim_digest(engine, nana.id, WEEK, NOW, NOW) is not None  # ...and the box died
    assert sends.claim_digest(engine, nana.id, WEEK, NOW, later(3599)) is None
    again = sends.claim_digest(engine, nana.id, WEEK, NOW, later(3601))
    assert again is not None and again.attempts == 2


def test_a_refused_address_waits_for_a_new_one(engine: Engine, nana: Carer) -> None:
    claim = sends.claim_digest(engine, nana.id, WEEK, NOW, NOW)
    assert claim is not None
    assert sends.finish(engine, claim, NOW, error="550 no such user", refused=True).status == (
        "refused"
    )
    assert sends.claim_digest(engine, nana.id, WEEK, NOW, later(86_400)) is None
    again = sends.claim_digest(engine, nana.id, WEEK, NOW, later(86_400), retry_refused=True)
    assert again is not None and again.status == "sending"


def test_delivery_problems_name_the_carer_and_the_answer(engine: Engine, nana: Carer) -> None:
    dad = add_carer(engine, "Dad", "dad@example.org", ["Sam"], now=NOW)
    claim = sends.claim_digest(engine, nana.id, WEEK, NOW, NOW)
    assert claim is not None
    sends.finish(engine, claim, NOW, error="451 mailbox busy")
    mark_address_refused(engine, dad.id, "550 no such user", NOW)
    problems = sends.delivery_problems(engine, later(10))
    assert [(p.carer, p.what, p.problem) for p in problems] == [
        ("Dad", "address", "550 no such user"),
        ("Nana", f"weekly digest {WEEK}", "451 mailbox busy"),
    ]
    assert problems[1].next_try == later(60) and problems[1].attempts == 1
    assert sends.delivery_problems(engine, later(9 * 86_400))[1:] == []  # old news


def record_alert(engine: Engine, child: str | None, minute: int, app: str = "ometv") -> int:
    when = NOW + timedelta(minutes=minute)
    record_events(
        engine, [Event(when, EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT, child, app=app)]
    )
    return max(e.id or 0 for e in sends.pending_alerts(engine, 0, [child or ""], NOW))


def test_pending_alerts_are_the_carers_children_and_the_unassigned(
    engine: Engine, nana: Carer
) -> None:
    a = record_alert(engine, "Sam", 1)
    record_alert(engine, "Alex", 2)
    c = record_alert(engine, None, 3)
    record_events(engine, [Event(later(240), EventKind.LATE_NIGHT, Severity.NOTICE, "Sam")])
    found = sends.pending_alerts(engine, 0, nana.children, NOW)
    assert [e.id for e in found] == [a, c]
    assert [e.id for e in sends.pending_alerts(engine, a, nana.children, NOW)] == [c]
    assert sends.pending_alerts(engine, 0, nana.children, later(150)) == found[1:]


def test_alerts_queue_with_the_cursor_and_join_an_unsent_email(engine: Engine, nana: Carer) -> None:
    a, b = record_alert(engine, "Sam", 1), record_alert(engine, "Sam", 2, "chatroulette")
    sends.note_pending(engine, nana.id, NOW)
    assert sends.alert_state(engine, nana.id).pending_since == NOW
    first = sends.queue_alert_email(engine, nana.id, [a], later(30))
    state = sends.alert_state(engine, nana.id)
    assert state.last_event_id == a and state.pending_since is None
    assert state.last_email_at == later(30)
    # not sent yet: a later alert joins it, and the rate limit clock does not move
    assert sends.queue_alert_email(engine, nana.id, [b], later(40)) == first
    assert sends.alert_state(engine, nana.id).last_email_at == later(30)
    (due,) = sends.alert_sends_due(engine, later(41))
    assert due.id == first and due.event_ids == (a, b)
    claim = sends.claim_alert(engine, first, later(41))
    assert claim is not None and sends.claim_alert(engine, first, later(42)) is None
    sends.finish(engine, claim, later(43))
    assert [e.id for e in sends.events_by_id(engine, claim.event_ids)] == [a, b]
    assert sends.alert_sends_due(engine, later(44)) == []


def test_an_alert_email_is_given_up_after_a_day(engine: Engine, nana: Carer) -> None:
    a = record_alert(engine, "Sam", 1)
    send_id = sends.queue_alert_email(engine, nana.id, [a], NOW)
    claim = sends.claim_alert(engine, send_id, NOW)
    assert claim is not None
    assert sends.finish(engine, claim, NOW, error="451").status == "failed"
    claim = sends.claim_alert(engine, send_id, later(86_400))
    assert claim is not None
    assert sends.finish(engine, claim, later(86_400), error="451").status == "gave_up"
    assert sends.alert_sends_due(engine, later(10 * 86_400)) == []
    acknowledge(engine, a, NOW)  # (acknowledging later changes nothing here)
    assert [p.what for p in sends.delivery_problems(engine, later(86_401))] == ["alert email"]
