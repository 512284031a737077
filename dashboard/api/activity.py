"""API: children's requests (list, approve, decline), events, and day and week summaries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field

from agent.household import requests
from agent.rules.overlays import UNBLOCK_CHOICES
from agent.store import household as store
from agent.store.events import event_json, list_events
from agent.store.rollups import day_summary, summary_json, week_summary
from dashboard.api import bp, shapes
from dashboard.api.errors import ApiError
from dashboard.api.spec import operation
from dashboard.box import box

AllowFor = Literal[tuple(UNBLOCK_CHOICES)]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestsQuery(Strict):
    status: Literal["pending", "approved", "declined"] | None = Field(
        None, description="only requests in this state"
    )
    child_id: int | None = None


class ApproveBody(Strict):
    minutes: int | None = Field(
        None,
        ge=requests.MIN_MINUTES,
        le=requests.MAX_MINUTES,
        description="more time: how many minutes (the child's ask if left out)",
    )
    for_: AllowFor = Field(
        "always", alias="for", description="an unblock: 15m, 1h, today or always"
    )


class EventsQuery(Strict):
    child_id: int | None = None
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0)
    severity: Literal["info", "notice", "alert"] | None = None


class DayQuery(Strict):
    day: date | None = Field(None, description="YYYY-MM-DD; today if left out")


class WeekQuery(Strict):
    monday: date | None = Field(None, description="the week's Monday; this week if left out")


@operation(bp, "GET", "/requests", "Children's requests", tag="requests", query=RequestsQuery)
def list_requests(query: RequestsQuery) -> Any:
    """Newest first."""
    b = box()
    found = requests.list_requests(b.engine(), child=query.child_id, status=query.status)
    return jsonify({"requests": [shapes.child_request(r, b.tz) for r in found]})


def _decide(request_id: int, approve: bool, body: ApproveBody | None) -> Any:
    b = box()
    try:
        answered = requests.decide_request(
            b.engine(),
            request_id,
            approve,
            body.minutes if body else None,
            b.now(),
            unblock_for=body.for_ if body else "always",
        )
    except requests.RequestError as exc:
        status = 404 if "no request" in str(exc) else 409 if "already" in str(exc) else 400
        text = str(exc)
        raise ApiError(status, text[:1].upper() + text[1:] + ".") from None
    said = f"Approved. {answered.outcome}." if approve else "Declined."
    return jsonify({"message": said, "request": shapes.child_request(answered, b.tz)})


@operation(
    bp, "POST", "/requests/<int:request_id>/approve", "Approve a child's request",
    tag="requests", body=ApproveBody, write=True,
)  # fmt: skip
def approve_request(request_id: int, body: ApproveBody) -> Any:
    """Does what Home's Approve button does (more time, or the app or site allowed)."""
    return _decide(request_id, True, body)


@operation(
    bp, "POST", "/requests/<int:request_id>/decline", "Decline a child's request",
    tag="requests", write=True,
)  # fmt: skip
def decline_request(request_id: int) -> Any:
    """The child sees the answer on their page."""
    return _decide(request_id, False, None)


@operation(bp, "GET", "/events", "Events and alerts, newest first", tag="events", query=EventsQuery)
def events(query: EventsQuery) -> Any:
    b = box()
    child = _child_name(query.child_id) if query.child_id is not None else None
    found = list_events(
        b.engine(),
        child,
        limit=query.limit,
        offset=query.offset,
        severities=[query.severity] if query.severity else None,
    )
    return jsonify({"events": [event_json(e) for e in found]})


def _child_name(child_id: int) -> str:
    child = store.load_household(box().engine()).child_by_id.get(child_id)
    if child is None:
        raise ApiError(404, f"There is no child with id {child_id}.")
    return child.name


@operation(
    bp, "GET", "/children/<int:child_id>/day", "A child's day: minutes, apps, blocks",
    tag="summaries", query=DayQuery,
)  # fmt: skip
def day(child_id: int, query: DayQuery) -> Any:
    b = box()
    name = _child_name(child_id)
    summary = day_summary(b.engine(), name, query.day or b.now().date())
    return jsonify(summary_json(summary, b.tz))


@operation(
    bp, "GET", "/children/<int:child_id>/week", "A child's week, with the week before",
    tag="summaries", query=WeekQuery,
)  # fmt: skip
def week(child_id: int, query: WeekQuery) -> Any:
    b = box()
    name = _child_name(child_id)
    today = b.now().date()
    monday = query.monday or today - timedelta(days=today.weekday())
    if monday.weekday() != 0:
        raise ApiError(400, f"{monday} is not a Monday.")
    return jsonify(summary_json(week_summary(b.engine(), name, monday), b.tz))
