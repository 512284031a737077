"""Requests from children: "can I have more time?" and "can you unblock this?".

A child asks from the dashboard's child page (no login: the asking device says who it is). The
request is stored here and recorded as a `child_request` alert event in the same transaction,
so it shows among the alerts, reaches the alert emails and feeds the conversation prompts. A
parent approves or declines it from Home; deciding acknowledges the event.

What approval does, kept simple so a parent can always see and undo it. Nothing a parent set
is taken away and put back: temporary changes are overlays that end by themselves
(`agent.rules.overlays`, `agent.store.overlays`), shown with their time left on the child's
page, where a parent can end them early.

- "unblock" (an app, or a website): for 15 minutes, an hour or today, an "unblock" overlay;
  "always" is an explicit allow rule for that child, the same rule the Child page's toggles
  make, which stays until a parent changes it there.
- "more time" (N minutes): a pause of the child ends, and each of the child's schedules that is
  on at any moment of the next N minutes is held off by a "more_time" overlay until then.

Times go in timezone-aware, in the box's zone (schedules are local); they come back in UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from agent.events import Event, EventKind, Severity
from agent.rules.overlays import OverlayError, unblock_until
from agent.store import grants
from agent.store import household as store
from agent.store.events import KeyedEvent, acknowledge, record_events
from agent.store.household_tables import check_domain

__all__ = [
    "ChildRequest",
    "RequestError",
    "add_request",
    "decide_request",
    "get_request",
    "list_requests",
]
KINDS = ("more_time", "unblock")
STATUSES = ("pending", "approved", "declined")
MIN_MINUTES, MAX_MINUTES = grants.MIN_MINUTES, grants.MAX_MINUTES
MAX_MESSAGE = 200
MAX_PER_HOUR = 6  # per child: enough to ask, not enough to flood a parent's phone


class RequestError(ValueError):
    """A request that cannot be made or decided; the message is one line."""


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


# Asking ------------------------------------------------------------------------------------


def add_request(
    engine: Engine,
    child_id: int,
    kind: str,
    when: datetime,
    *,
    device: str | None = None,
    app: str | None = None,
    site: str | None = None,
    minutes: int | None = None,
    message: str = "",
    app_name: str | None = None,
) -> ChildRequest:
    """Store a child's request and its alert event. Asking again for the same thing while a
    parent has not answered returns the first request. `app_name` (the catalogue's name for
    `app`) goes into the event, for the words in alerts and emails."""
    if kind not in KINDS:
        raise RequestError(f"a request is for more time or to unblock something, not {kind!r}")
    child = next((c for c in store.list_children(engine) if c.id == child_id), None)
    if child is None:
        raise RequestError(f"there is no child with id {child_id}")
    try:
        site = check_domain(site) if site else None
    except store.HouseholdError:
        raise RequestError(f"{site!r} is not a website address like example.com") from None
    if kind == "unblock" and not (app or site):
        raise RequestError("say which app or website to unblock")
    if minutes is not None and not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise RequestError(f"ask for {MIN_MINUTES} to {MAX_MINUTES} minutes")
    message = " ".join("".join(ch for ch in message if ch.isprintable()).split())[:MAX_MESSAGE]
    values = {
        "t": _ts(when),
        "c": child_id,
        "n": child.name,
        "k": kind,
        "d": device,
        "a": app if kind == "unblock" else None,
        "s": site if kind == "unblock" else None,
        "m": minutes if kind == "more_time" else None,
        "msg": message,
    }
    with engine.begin() as conn:
        same = conn.execute(
            text(
                "SELECT id FROM child_requests WHERE child_id = :c AND kind = :k AND "
                "status = 'pending' AND app IS :a AND site IS :s"
            ),
            values,
        ).first()
        if same is not None:
            return _get(conn, same.id)
        recent = conn.execute(
            text("SELECT count(*) FROM child_requests WHERE child_id = :c AND time > :since"),
            {"c": child_id, "since": values["t"] - 3600},
        ).scalar_one()
        if recent >= MAX_PER_HOUR:
            raise RequestError("You have asked a lot this hour: wait for a grown-up to answer")
        new_id = conn.execute(
            text(
                "INSERT INTO child_requests (time, child_id, child, kind, device, app, site, "
                "asked_minutes, message, status, outcome, lifted, restored) VALUES "
                "(:t, :c, :n, :k, :d, :a, :s, :m, :msg, 'pending', '', '[]', 0) RETURNING id"
            ),
            values,
        ).scalar_one()
        details = {"request_id": new_id, "request": kind, "message": message}
        extra = (("site", site), ("minutes", minutes), ("app_name", app_name if app else None))
        details |= {k: v for k, v in extra if v}
        event = Event(
            when, EventKind.CHILD_REQUEST, Severity.ALERT, child.name, device, values["a"], details
        )
        record_events(conn, [KeyedEvent(event, event_key(new_id))])
        return _get(conn, new_id)


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


# Deciding ----------------------------------------------------------------------------------


def decide_request(
    engine: Engine,
    request_id: int,
    approve: bool,
    minutes: int | None,
    when: datetime,
    unblock_for: str = "always",
) -> ChildRequest:
    """Approve (with `minutes` for more time: the child's ask if None; `unblock_for` one of
    `agent.rules.overlays.UNBLOCK_CHOICES` for an unblock) or decline."""
    asked = get_request(engine, request_id)
    if asked is None:
        raise RequestError(f"there is no request number {request_id}")
    try:
        unblock_until(unblock_for, when)
    except OverlayError as exc:
        raise RequestError(str(exc)) from None
    if asked.kind != "more_time":
        minutes = None
    elif approve:
        minutes = minutes or asked.asked_minutes
        if minutes is None or not MIN_MINUTES <= minutes <= MAX_MINUTES:
            raise RequestError(f"give {MIN_MINUTES} to {MAX_MINUTES} minutes")
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
        asked = _get(conn, request_id)
    outcome = ""
    if approve:
        try:
            outcome = _approve(engine, asked, minutes or 0, when, unblock_for)
        except store.HouseholdError as exc:
            outcome = f"Could not do it: {exc}"
    _set(engine, request_id, outcome=outcome)
    _acknowledge(engine, request_id, when)
    return get_request(engine, request_id) or asked


def _approve(
    engine: Engine, asked: ChildRequest, minutes: int, when: datetime, unblock_for: str
) -> str:
    if asked.kind == "unblock":
        kind, value = ("app", asked.app) if asked.app else ("domain", asked.site)
        return grants.allow_for(
            engine, asked.child_id, asked.child, kind, value or "", unblock_for, when, asked.id
        )
    return grants.give_more_time(engine, asked.child_id, asked.child, minutes, when, asked.id)


# Helpers -----------------------------------------------------------------------------------


def _set(engine: Engine, request_id: int, **values: Any) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in values)
    with engine.begin() as conn:
        conn.execute(
            text(f"UPDATE child_requests SET {sets} WHERE id = :id"), values | {"id": request_id}
        )


def _acknowledge(engine: Engine, request_id: int, when: datetime) -> None:
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT id FROM events WHERE dedupe_key = :k"), {"k": event_key(request_id)}
        ).first()
    if found is not None:
        acknowledge(engine, found.id, when)


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
