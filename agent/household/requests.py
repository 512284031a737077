"""Requests from children: "can I have more time?" and "can you unblock this?".

A child asks from the dashboard's child page (no login: the asking device says who it is). The
request is stored with a `child_request` alert event in the same transaction, so it shows among
the alerts, reaches the alert emails and feeds the conversation prompts. A parent approves or
declines it from Home; deciding acknowledges the event.

What approval does (`agent.household.grants`, which the API also uses when a parent gives
time or allows something unasked), kept simple so a parent can always see and undo it. Nothing
a parent set is taken away and put back: temporary changes are overlays that end by themselves
(`agent.rules.overlays`, `agent.store.overlays`), shown with their time left on the child's
page, where a parent can end them early.

- "unblock" (an app, or a website): for 15 minutes, an hour or today, an "unblock" overlay;
  "always" is an explicit allow rule for that child, the same rule the Child page's toggles
  make, which stays until a parent changes it there.
- "more time" (N minutes): a pause of the child ends, and each of the child's schedules that is
  on at any moment of the next N minutes is held off by a "more_time" overlay until then.

Times go in timezone-aware, in the box's zone (schedules are local); they come back in UTC.
The SQL is `agent.store.requests`; its readers are re-exported here for the pages.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from agent.events import Event, EventKind, Severity
from agent.household import grants
from agent.household.checks import check_domain
from agent.rules.overlays import OverlayError, unblock_until
from agent.store import household as store
from agent.store import requests as rows
from agent.store.events import KeyedEvent
from agent.store.requests import ChildRequest, RequestError, event_key, get_request, list_requests

__all__ = [
    "ChildRequest",
    "RequestError",
    "add_request",
    "decide_request",
    "get_request",
    "list_requests",
]
KINDS = ("more_time", "unblock")
MIN_MINUTES, MAX_MINUTES = grants.MIN_MINUTES, grants.MAX_MINUTES
MAX_MESSAGE = 200
MAX_PER_HOUR = 6  # per child: enough to ask, not enough to flood a parent's phone


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
    if when.tzinfo is None:
        raise RequestError("times must carry a timezone")
    child = next((c for c in store.list_children(engine) if c.id == child_id), None)
    if child is None:
        raise RequestError(f"there is no child with id {child_id}")
    try:
        site = check_domain(site) if site else None
    except ValueError:
        raise RequestError(f"{site!r} is not a website address like example.com") from None
    if kind == "unblock" and not (app or site):
        raise RequestError("say which app or website to unblock")
    if minutes is not None and not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise RequestError(f"ask for {MIN_MINUTES} to {MAX_MINUTES} minutes")
    message = " ".join("".join(ch for ch in message if ch.isprintable()).split())[:MAX_MESSAGE]
    values = {
        "t": when.timestamp(),
        "c": child_id,
        "n": child.name,
        "k": kind,
        "d": device,
        "a": app if kind == "unblock" else None,
        "s": site if kind == "unblock" else None,
        "m": minutes if kind == "more_time" else None,
        "msg": message,
    }

    def event(new_id: int) -> KeyedEvent:
        details = {"request_id": new_id, "request": kind, "message": message}
        extra = (("site", site), ("minutes", minutes), ("app_name", app_name if app else None))
        details |= {k: v for k, v in extra if v}
        found = Event(
            when, EventKind.CHILD_REQUEST, Severity.ALERT, child.name, device, values["a"], details
        )
        return KeyedEvent(found, event_key(new_id))

    try:
        return rows.insert_request(
            engine, values, max_recent=MAX_PER_HOUR, window_seconds=3600, event=event
        )
    except rows.TooManyRequests:
        raise RequestError(
            "You have asked a lot this hour: wait for a grown-up to answer"
        ) from None


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
    asked = rows.claim_decision(engine, request_id, approve, minutes, when)
    outcome = ""
    if approve:
        try:
            outcome = _approve(engine, asked, minutes or 0, when, unblock_for)
        except store.HouseholdError as exc:
            outcome = f"Could not do it: {exc}"
    rows.set_outcome(engine, request_id, outcome)
    rows.acknowledge_request_event(engine, request_id, when)
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
