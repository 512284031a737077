"""Children's requests in the database: the `child_requests` table and the SQL that reads and
writes it (every statement here is plain SQL through SQLAlchemy's `text`).

What a request may say, how many a child may make, and what approving one does are the
household's rules, in `agent.household.requests`. Times go in timezone-aware; they come back
in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from agent.store.events import KeyedEvent, acknowledge, record_events

STATUSES = ("pending", "approved", "declined")


class RequestError(ValueError):
    """A request that cannot be made or decided; the message is one line."""


class TooManyRequests(RequestError):
    """The child has made as many requests as the window allows."""


class ChildRequestRow(SQLModel, table=True):
    __tablename__ = "child_requests"
    id: int | None = Field(default=None, primary_key=True)
    time: float = Field(index=True)  # unix seconds
    child_id: int = Field(index=True)
    child: str  # the name when asked, as events have it
    kind: str  # "more_time" | "unblock"
    device: str | None = None  # MAC, else IP address
    app: str | None = None  # catalogue app id
    site: str | None = None  # a domain
    asked_minutes: int | None = None
    message: str = ""
    status: str = "pending"
    decided_at: float | None = None
    minutes: int | None = None  # what the parent gave
    outcome: str = ""  # what approving did, in a parent's words
    # Left from when "more time" took schedules out (migration 0005h put them back): unused.
    lifted: str = "[]"
    lift_until: float | None = None
    restored: bool = False


@dataclass(frozen=True)
class ChildRequest:
    id: int
    time: datetime  # UTC
    child_id: int
    child: str
    kind: str
    device: str | None = None
    app: str | None = None
    site: str | None = None
    asked_minutes: int | None = None
    message: str = ""
    status: str = "pending"
    decided_at: datetime | None = None
    minutes: int | None = None
    outcome: str = ""

    @property
    def pending(self) -> bool:
        return self.status == "pending"


def event_key(request_id: int) -> str:
    return f"child_request:{request_id}"


def _ts(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise RequestError("times must carry a timezone")
    return moment.timestamp()


def _moment(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


# Writing -----------------------------------------------------------------------------------


def insert_request(
    engine: Engine,
    values: dict[str, Any],
    *,
    max_recent: int,
    window_seconds: float,
    event: Callable[[int], KeyedEvent],
) -> ChildRequest:
    """Store a request and the event `event(new_id)` makes, in one transaction. `values` has
    t (unix seconds), c (child id), n (child's name), k (kind), d, a, s, m, msg. A pending
    request for the same thing is returned instead; `TooManyRequests` when the child already
    made `max_recent` in the last `window_seconds`."""
    with engine.begin() as conn:
        t = ChildRequestRow.__table__.c  # type: ignore[attr-defined]
        same = conn.execute(
            select(t.id).where(
                t.child_id == values["c"],
                t.kind == values["k"],
                t.status == "pending",
                # NULL-safe equality: SQLite spells it IS, PostgreSQL IS NOT DISTINCT FROM
                t.app.is_not_distinct_from(values["a"]),
                t.site.is_not_distinct_from(values["s"]),
            )
        ).first()
        if same is not None:
            return _get(conn, same.id)
        recent = conn.execute(
            text("SELECT count(*) FROM child_requests WHERE child_id = :c AND time > :since"),
            {"c": values["c"], "since": values["t"] - window_seconds},
        ).scalar_one()
        if recent >= max_recent:
            raise TooManyRequests(f"{recent} requests in the last {window_seconds:g}s")
        new_id = conn.execute(
            text(
                "INSERT INTO child_requests (time, child_id, child, kind, device, app, site, "
                "asked_minutes, message, status, outcome, lifted, restored) VALUES "
                "(:t, :c, :n, :k, :d, :a, :s, :m, :msg, 'pending', '', '[]', FALSE) RETURNING id"
            ),
            values,
        ).scalar_one()
        record_events(conn, [event(new_id)])
        return _get(conn, new_id)


def claim_decision(
    engine: Engine, request_id: int, approve: bool, minutes: int | None, when: datetime
) -> ChildRequest:
    """Mark a pending request approved or declined; RequestError if there is none or it was
    answered already (two parents answering at once: the first one counts)."""
    with engine.begin() as conn:
        claimed = conn.execute(
            text(
                "UPDATE child_requests SET status = :s, decided_at = :t, minutes = :m "
                "WHERE id = :id AND status = 'pending'"
            ),
            {
                "s": "approved" if approve else "declined",
                "t": _ts(when),
                "m": minutes,
                "id": request_id,
            },
        )
        if not claimed.rowcount:
            _get(conn, request_id)  # raises if there is no such request
            raise RequestError("this request has already been answered")
        return _get(conn, request_id)


def set_outcome(engine: Engine, request_id: int, outcome: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE child_requests SET outcome = :o WHERE id = :id"),
            {"o": outcome, "id": request_id},
        )


def acknowledge_request_event(engine: Engine, request_id: int, when: datetime) -> None:
    """Mark the request's alert event as seen (deciding a request answers its alert)."""
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT id FROM events WHERE dedupe_key = :k"), {"k": event_key(request_id)}
        ).first()
    if found is not None:
        acknowledge(engine, found.id, when)


# Reading -----------------------------------------------------------------------------------


def list_requests(
    engine: Engine,
    child: str | int | None = None,
    since: datetime | None = None,
    status: str | None = None,
) -> list[ChildRequest]:
    """Newest first. `child` is a name or a child id."""
    where, params = ["1 = 1"], {}
    if isinstance(child, int):
        where.append("child_id = :child")
        params["child"] = child
    elif child is not None:
        where.append("lower(child) = lower(:child)")
        params["child"] = child
    if since is not None:
        where.append("time >= :since")
        params["since"] = _ts(since)
    if status is not None:
        where.append("status = :status")
        params["status"] = status
    sql = f"SELECT * FROM child_requests WHERE {' AND '.join(where)} ORDER BY time DESC, id DESC"
    with engine.connect() as conn:
        return [_request(r) for r in conn.execute(text(sql), params).all()]


def get_request(engine: Engine, request_id: int) -> ChildRequest | None:
    with engine.connect() as conn:
        try:
            return _get(conn, request_id)
        except RequestError:
            return None


# Helpers ---------------------------------------------------------------------------------


def _get(conn: Connection, request_id: int) -> ChildRequest:
    row = conn.execute(
        text("SELECT * FROM child_requests WHERE id = :id"), {"id": request_id}
    ).first()
    if row is None:
        raise RequestError(f"there is no request number {request_id}")
    return _request(row)


def _request(r: Any) -> ChildRequest:
    return ChildRequest(
        id=r.id,
        time=_moment(r.time) or datetime.now(UTC),
        child_id=r.child_id,
        child=r.child,
        kind=r.kind,
        device=r.device,
        app=r.app,
        site=r.site,
        asked_minutes=r.asked_minutes,
        message=r.message or "",
        status=r.status,
        decided_at=_moment(r.decided_at),
        minutes=r.minutes,
        outcome=r.outcome or "",
    )
