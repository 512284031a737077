"""Email send records: one row per weekly digest per carer, and an outbox of alert emails.

Weekly digests: `digest_sends` has one row per (carer, ISO week), unique. A sender claims the row
in a transaction before it talks to the mail server (`claim_digest` inserts it as "sending", or
moves a due "failed" row to "sending"), so two processes, or a restart, never send a week twice.
After the attempt, `finish` records "sent", "failed" (with the next try, backing off 1 min, 5 min,
30 min, 2 h, then every 6 h) or "refused" (the server refused the address for good; the row waits
for a new address).

A crash between claim and finish leaves a row "sending". After `STALE_SENDING` (1 hour) such a
row may be claimed again: the email may have left before the crash, but a carer getting the
same digest twice is less bad than getting none. The message keeps the same Message-ID, so
many mail services drop the second copy by themselves.

Alert emails: `alert_state` remembers, per carer, the last alert event considered, when new
alerts were first noticed (grouping) and when the last email was queued (rate limit).
`queue_alert_email` adds an outbox row in `alert_sends` and moves the cursor in one
transaction; new alerts join a row that has not gone out yet rather than waiting for another.
A refused alert email goes out once the carer has a new address, if it is less than a day old.
An alert email still failing after `ALERT_GIVE_UP` (a day) is given up ("gave_up").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import UniqueConstraint, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from agent.events import Event
from agent.store import carers as _carers  # noqa: F401  (the carers table, for the FKs)
from agent.store.dialect import larger, smaller
from agent.store.events import _COLUMNS as _EVENT_COLUMNS
from agent.store.events import ALERTING_SQL, _event

BACKOFF = (60, 300, 1800, 7200, 21600)  # seconds before try 2, 3, 4, 5, then every 6 h
STALE_SENDING = 3600.0
ALERT_GIVE_UP = 86_400.0
RECENT_PROBLEMS = 8 * 86_400.0  # older failed digests are superseded by the next week's


class DigestSendRow(SQLModel, table=True):
    __tablename__ = "digest_sends"
    __table_args__ = (UniqueConstraint("carer_id", "week"),)
    id: int | None = Field(default=None, primary_key=True)
    carer_id: int = Field(foreign_key="carers.id", ondelete="CASCADE")
    week: str  # ISO week of the due date, "2026-W47"
    due_at: float  # unix seconds
    status: str  # sending | sent | failed | refused
    attempts: int = 0
    next_try: float | None = None
    claimed_at: float | None = None
    sent_at: float | None = None
    last_error: str | None = None


class AlertSendRow(SQLModel, table=True):
    __tablename__ = "alert_sends"
    id: int | None = Field(default=None, primary_key=True)
    carer_id: int = Field(foreign_key="carers.id", ondelete="CASCADE", index=True)
    event_ids: str  # JSON list
    created_at: float
    status: str = Field(index=True)  # pending | sending | sent | failed | gave_up
    attempts: int = 0
    next_try: float | None = None
    claimed_at: float | None = None
    sent_at: float | None = None
    last_error: str | None = None


class AlertStateRow(SQLModel, table=True):
    __tablename__ = "alert_state"
    carer_id: int = Field(foreign_key="carers.id", primary_key=True, ondelete="CASCADE")
    last_event_id: int = 0
    pending_since: float | None = None
    last_email_at: float | None = None


@dataclass(frozen=True)
class SendRecord:
    """One digest or alert email: what it is, where it got to, and what the server said."""

    kind: str  # "digest" | "alert"
    id: int
    carer_id: int
    status: str
    attempts: int
    week: str | None = None  # digests
    event_ids: tuple[int, ...] = ()  # alerts
    created_at: datetime | None = None
    next_try: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


@dataclass(frozen=True)
class AlertState:
    last_event_id: int = 0
    pending_since: datetime | None = None
    last_email_at: datetime | None = None


@dataclass(frozen=True)
class DeliveryProblem:
    """Something the dashboard should show: an email that has not gone out, and why."""

    carer: str
    email: str
    what: str  # "address" | "weekly digest 2026-W47" | "alert email"
    problem: str  # the server's answer, in plain words
    since: datetime | None
    attempts: int = 0
    next_try: datetime | None = None  # None: not tried again until something changes


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failed try."""
    return float(BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1])


# Weekly digests ----------------------------------------------------------------------------


def claim_digest(
    engine: Engine,
    carer_id: int,
    week: str,
    due: datetime,
    now: datetime,
    *,
    retry_refused: bool = False,
) -> SendRecord | None:
    """Claim the (carer, week) digest for sending now; None if it is sent, being sent, or not
    due for another try. `retry_refused`: the carer has a new address since it was refused."""
    t = _ts(now)
    params = {"c": carer_id, "w": week, "t": t, "stale": t - STALE_SENDING}
    with engine.begin() as conn:
        added = conn.execute(
            text(
                "INSERT INTO digest_sends (carer_id, week, due_at, status, attempts, claimed_at) "
                "VALUES (:c, :w, :due, 'sending', 1, :t) ON CONFLICT (carer_id, week) DO NOTHING"
            ),
            params | {"due": _ts(due)},
        ).rowcount
        if not added:
            refused = " OR status = 'refused'" if retry_refused else ""
            moved = conn.execute(
                text(
                    "UPDATE digest_sends SET status = 'sending', attempts = attempts + 1, "
                    "claimed_at = :t WHERE carer_id = :c AND week = :w AND ("
                    "(status = 'failed' AND coalesce(next_try, 0) <= :t) "
                    f"OR (status = 'sending' AND claimed_at < :stale){refused})"
                ),
                params,
            ).rowcount
            if not moved:
                return None
        row = conn.execute(
            text("SELECT * FROM digest_sends WHERE carer_id = :c AND week = :w"), params
        ).one()
        return _digest_record(row)


def record_sent_on_request(engine: Engine, carer_id: int, label: str, now: datetime) -> None:
    """A digest sent on request (`digest send --now`), so `digest status` shows it. Its label
    is not an ISO week, so the weekly digest for that week is still due as usual."""
    t = _ts(now)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO digest_sends (carer_id, week, due_at, status, attempts, sent_at) "
                "VALUES (:c, :w, :t, 'sent', 1, :t) ON CONFLICT (carer_id, week) DO UPDATE SET "
                "attempts = digest_sends.attempts + 1, sent_at = :t, due_at = :t"
            ),
            {"c": carer_id, "w": label, "t": t},
        )


def digest_send(engine: Engine, carer_id: int, week: str) -> SendRecord | None:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM digest_sends WHERE carer_id = :c AND week = :w"),
            {"c": carer_id, "w": week},
        ).first()
        return _digest_record(row) if row is not None else None


def list_digest_sends(engine: Engine, carer_id: int | None = None) -> list[SendRecord]:
    """Newest week first."""
    where = "WHERE carer_id = :c" if carer_id is not None else ""
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT * FROM digest_sends {where} ORDER BY due_at DESC, id DESC"),
            {"c": carer_id},
        ).all()
    return [_digest_record(r) for r in rows]


# Alert emails ------------------------------------------------------------------------------


def alert_state(engine: Engine, carer_id: int) -> AlertState:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM alert_state WHERE carer_id = :c"), {"c": carer_id}
        ).first()
    if row is None:
        return AlertState()
    return AlertState(row.last_event_id, _when(row.pending_since), _when(row.last_email_at))


def note_pending(engine: Engine, carer_id: int, since: datetime | None) -> None:
    """Remember when new alerts were first noticed for this carer (None: none are waiting)."""
    with engine.begin() as conn:
        _ensure_state(conn, carer_id)
        conn.execute(
            text("UPDATE alert_state SET pending_since = :s WHERE carer_id = :c"),
            {"s": _ts(since) if since else None, "c": carer_id},
        )


def pending_alerts(
    engine: Engine, after_id: int, children: Sequence[str], since: datetime
) -> list[Event]:
    """Alert (and urgent) events stored after event `after_id`, at or after `since`, about one of
    `children` or about no child (a device nobody has assigned); oldest first."""
    names = list(children)
    marks = ", ".join(f":n{i}" for i in range(len(names))) or "NULL"
    sql = (
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE id > :after AND {ALERTING_SQL} "
        f"AND time >= :since AND (child IS NULL OR child IN ({marks})) ORDER BY id"
    )
    params: dict[str, Any] = {"after": after_id, "since": _ts(since)}
    params.update({f"n{i}": n for i, n in enumerate(names)})
    with engine.connect() as conn:
        return [_event(r) for r in conn.execute(text(sql), params).all()]


def events_by_id(engine: Engine, ids: Iterable[int]) -> list[Event]:
    """The events still stored among `ids`, oldest first."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    marks = ", ".join(f":i{n}" for n in range(len(wanted)))
    sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE id IN ({marks}) ORDER BY time, id"
    with engine.connect() as conn:
        rows = conn.execute(text(sql), {f"i{n}": i for n, i in enumerate(wanted)}).all()
    return [_event(r) for r in rows]


def queue_alert_email(
    engine: Engine, carer_id: int, event_ids: Sequence[int], now: datetime, *, at_once: bool = False
) -> int:
    """Put these alerts in the carer's outbox and move their cursor past them, together.
    They join an email that has not gone out yet, if there is one; returns its id. `at_once`
    (an urgent alert): that email is tried now, not after the wait a failed try set."""
    ids, t = sorted(set(event_ids)), _ts(now)
    with engine.begin() as conn:
        _ensure_state(conn, carer_id)
        waiting = conn.execute(
            text(
                "SELECT id, event_ids FROM alert_sends WHERE carer_id = :c "
                "AND status IN ('pending', 'failed', 'refused') ORDER BY id DESC LIMIT 1"
            ),
            {"c": carer_id},
        ).first()
        if waiting is not None:
            merged = sorted(set(json.loads(waiting.event_ids)) | set(ids))
            conn.execute(
                text(
                    "UPDATE alert_sends SET event_ids = :e, next_try = CASE WHEN :now_ "
                    f"THEN {smaller(conn, 'coalesce(next_try, :t)', ':t')} ELSE next_try END "
                    "WHERE id = :id"
                ),
                {"e": json.dumps(merged), "id": waiting.id, "now_": at_once, "t": t},
            )
            send_id = waiting.id
        else:
            send_id = conn.execute(
                text(
                    "INSERT INTO alert_sends (carer_id, event_ids, created_at, status, attempts, "
                    "next_try) VALUES (:c, :e, :t, 'pending', 0, :t) RETURNING id"
                ),
                {"c": carer_id, "e": json.dumps(ids), "t": t},
            ).scalar_one()
            conn.execute(
                text("UPDATE alert_state SET last_email_at = :t WHERE carer_id = :c"),
                {"t": t, "c": carer_id},
            )
        conn.execute(
            text(
                "UPDATE alert_state SET pending_since = NULL, "
                f"last_event_id = {larger(conn, 'last_event_id', ':last')} WHERE carer_id = :c"
            ),
            {"last": max(ids, default=0), "c": carer_id},
        )
        return int(send_id)


def alert_sends_due(engine: Engine, now: datetime) -> list[SendRecord]:
    """Alert emails to try now: new ones, failed ones whose wait is over, stale claims, and
    refused ones (of the last day) whose carer has a new address since."""
    t = _ts(now)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT * FROM alert_sends WHERE (status IN ('pending', 'failed') "
                "AND coalesce(next_try, 0) <= :t) OR (status = 'sending' AND claimed_at < :stale) "
                "OR (status = 'refused' AND created_at >= :recent AND carer_id IN "
                "(SELECT id FROM carers WHERE address_problem IS NULL)) ORDER BY id"
            ),
            {"t": t, "stale": t - STALE_SENDING, "recent": t - ALERT_GIVE_UP},
        ).all()
    return [_alert_record(r) for r in rows]


def claim_alert(engine: Engine, send_id: int, now: datetime) -> SendRecord | None:
    """Claim an alert email from `alert_sends_due` for sending now; None if another took it."""
    t = _ts(now)
    with engine.begin() as conn:
        moved = conn.execute(
            text(
                "UPDATE alert_sends SET status = 'sending', attempts = attempts + 1, "
                "claimed_at = :t WHERE id = :id AND ((status IN ('pending', 'failed') "
                "AND coalesce(next_try, 0) <= :t) OR (status = 'sending' AND claimed_at < :stale) "
                "OR status = 'refused')"
            ),
            {"t": t, "id": send_id, "stale": t - STALE_SENDING},
        ).rowcount
        if not moved:
            return None
        row = conn.execute(text("SELECT * FROM alert_sends WHERE id = :id"), {"id": send_id}).one()
        return _alert_record(row)


# Outcomes ----------------------------------------------------------------------------------


def finish(
    engine: Engine,
    record: SendRecord,
    now: datetime,
    *,
    error: str | None = None,
    refused: bool = False,
) -> SendRecord:
    """Record how a claimed send went: sent (no error), refused for good, or failed (tried
    again after a back-off; an alert email is given up after a day)."""
    table = "digest_sends" if record.kind == "digest" else "alert_sends"
    t = _ts(now)
    values: dict[str, Any] = {"id": record.id, "e": error, "t": t, "n": None}
    if error is None:
        status, extra = "sent", ", sent_at = :t"
    elif refused:
        status, extra = "refused", ""
    else:
        status, extra = "failed", ""
        values["n"] = t + backoff(record.attempts)
        created = record.created_at.timestamp() if record.created_at else t
        if record.kind == "alert" and t - created >= ALERT_GIVE_UP:
            status, values["n"] = "gave_up", None
    with engine.begin() as conn:
        conn.execute(
            text(
                f"UPDATE {table} SET status = :s, last_error = :e, next_try = :n{extra} "
                "WHERE id = :id"
            ),
            values | {"s": status},
        )
        row = conn.execute(text(f"SELECT * FROM {table} WHERE id = :id"), values).one()
    return _digest_record(row) if record.kind == "digest" else _alert_record(row)


def delivery_problems(engine: Engine, now: datetime) -> list[DeliveryProblem]:
    """Emails that have not gone out (recent ones) and addresses a server refused."""
    t = _ts(now)
    out: list[DeliveryProblem] = []
    with engine.connect() as conn:
        for r in conn.execute(
            text("SELECT * FROM carers WHERE address_problem IS NOT NULL ORDER BY id")
        ):
            since = _when(r.address_problem_at)
            out.append(DeliveryProblem(r.name, r.email, "address", r.address_problem, since))
        digests = conn.execute(
            text(
                "SELECT d.*, c.name, c.email FROM digest_sends d "
                "JOIN carers c ON c.id = d.carer_id "
                "WHERE d.status IN ('failed', 'refused') AND d.due_at >= :recent "
                "OR d.status = 'sending' AND d.claimed_at < :stale ORDER BY d.due_at, d.id"
            ),
            {"recent": t - RECENT_PROBLEMS, "stale": t - STALE_SENDING},
        ).all()
        alerts = conn.execute(
            text(
                "SELECT a.*, c.name, c.email FROM alert_sends a JOIN carers c ON c.id = a.carer_id "
                "WHERE a.status IN ('failed', 'gave_up') AND a.created_at >= :recent "
                "ORDER BY a.created_at, a.id"
            ),
            {"recent": t - RECENT_PROBLEMS},
        ).all()
    for r in digests:
        problem = r.last_error or "interrupted while sending; it will be tried again"
        what = f"weekly digest {r.week}"
        out.append(
            DeliveryProblem(
                r.name, r.email, what, problem, _when(r.due_at), r.attempts, _when(r.next_try)
            )
        )
    for r in alerts:
        problem = r.last_error or "not sent"
        since = _when(r.created_at)
        out.append(
            DeliveryProblem(
                r.name, r.email, "alert email", problem, since, r.attempts, _when(r.next_try)
            )
        )
    return out


# Helpers -----------------------------------------------------------------------------------


def _ensure_state(conn: Connection, carer_id: int) -> None:
    conn.execute(
        text(
            "INSERT INTO alert_state (carer_id, last_event_id) VALUES (:c, 0) "
            "ON CONFLICT DO NOTHING"
        ),
        {"c": carer_id},
    )


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _when(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _digest_record(r: Any) -> SendRecord:
    return SendRecord(
        kind="digest",
        id=r.id,
        carer_id=r.carer_id,
        status=r.status,
        attempts=r.attempts,
        week=r.week,
        created_at=_when(r.due_at),
        next_try=_when(r.next_try),
        sent_at=_when(r.sent_at),
        last_error=r.last_error,
    )


def _alert_record(r: Any) -> SendRecord:
    return SendRecord(
        kind="alert",
        id=r.id,
        carer_id=r.carer_id,
        status=r.status,
        attempts=r.attempts,
        event_ids=tuple(json.loads(r.event_ids)),
        created_at=_when(r.created_at),
        next_try=_when(r.next_try),
        sent_at=_when(r.sent_at),
        last_error=r.last_error,
    )
