"""API: children with their rules in force now; pause, resume, more time, timed allows, ending
a temporary change early; schedules."""

from __future__ import annotations

from datetime import time
from typing import Any, Literal

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.household import grants
from agent.rules.household import Child, Household
from agent.rules.overlays import PAUSE_CHOICES, UNBLOCK_CHOICES, OverlayError, pause_until
from agent.store import household as store
from agent.store import overlays
from dashboard.api import bp, shapes
from dashboard.api.errors import ApiError
from dashboard.api.spec import operation
from dashboard.box import box

TAG = "children"
PauseFor = Literal[tuple(PAUSE_CHOICES)]  # type: ignore[valid-type]
AllowFor = Literal[tuple(UNBLOCK_CHOICES)]  # type: ignore[valid-type]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PauseBody(Body):
    for_: PauseFor = Field(alias="for", description="30, 60 or 120 minutes, or until morning")


class MoreTimeBody(Body):
    minutes: int = Field(ge=grants.MIN_MINUTES, le=grants.MAX_MINUTES)


class AllowBody(Body):
    app: str | None = Field(None, description="an app id from the catalogue, e.g. tiktok")
    domain: str | None = Field(None, description="a website, e.g. example.com")
    for_: AllowFor = Field(alias="for", description="15m, 1h, today, or always (a house rule)")

    @model_validator(mode="after")
    def one_target(self) -> AllowBody:
        if (self.app is None) == (self.domain is None):
            raise ValueError("give an app or a domain (one of them)")
        return self


class ScheduleBody(Body):
    name: str = Field(min_length=1, max_length=40)
    days: list[int] = Field(min_length=1, description="0 = Monday ... 6 = Sunday")
    start: time = Field(description="HH:MM, local time")
    end: time = Field(description="HH:MM; before start means it runs past midnight")
    all_day: bool = False
    block_all: bool = Field(True, description="the whole internet off (else only `block`)")
    block: list[str] = Field(default_factory=list, description="categories or app ids")
    allow: list[str] = Field(default_factory=list, description="websites that stay on")


def _household_child(child_id: int) -> tuple[Household, Child]:
    household = store.load_household(box().engine())
    child = household.child_by_id.get(child_id)
    if child is None:
        raise ApiError(404, f"There is no child with id {child_id}.")
    return household, child


def _done(message: str, child_id: int, **extra: Any) -> Any:
    b = box()
    household, child = _household_child(child_id)
    now = shapes.in_force(b, household, child, b.now())
    return jsonify({"message": message, "child_id": child_id, "now": now, **extra})


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:].rstrip(".") + "."


@operation(bp, "GET", "/children", "Children and their rules in force now", tag=TAG)
def list_children() -> Any:
    """Every child, with what applies to them this minute (pause, schedules on, temporary
    changes) and their standing rules and schedules."""
    b = box()
    household, now = store.load_household(b.engine()), b.now()
    return jsonify({"children": [shapes.child(b, household, c, now) for c in household.children]})


@operation(bp, "GET", "/children/<int:child_id>", "One child, app by app", tag=TAG)
def get_child(child_id: int) -> Any:
    """One child as `GET /children` gives them, plus every app in the catalogue with whether it
    is blocked for them by their standing rules and why."""
    b = box()
    household, child = _household_child(child_id)
    return jsonify(shapes.child(b, household, child, b.now(), apps=True))


@operation(
    bp, "POST", "/children/<int:child_id>/pause", "Pause a child's internet", tag=TAG,
    body=PauseBody, write=True,
)  # fmt: skip
def pause_child(child_id: int, body: PauseBody) -> Any:
    """The Home page's pause button: every device of the child gets no internet until then."""
    b = box()
    _household_child(child_id)
    until = pause_until(body.for_, b.now())
    store.pause(b.engine(), until, child_id=child_id)
    return _done(f"Paused until {until:%H:%M}.", child_id)


@operation(
    bp, "POST", "/children/<int:child_id>/resume", "End a child's pause", tag=TAG, write=True
)
def resume_child(child_id: int) -> Any:
    """The Home page's resume button."""
    _household_child(child_id)
    resumed = store.resume(box().engine(), child_id=child_id)
    return _done("The internet is back on." if resumed else "There was no pause.", child_id)


@operation(
    bp, "POST", "/children/<int:child_id>/more-time", "Give a child more time", tag=TAG,
    body=MoreTimeBody, write=True,
)  # fmt: skip
def more_time(child_id: int, body: MoreTimeBody) -> Any:
    """As approving a "more time" request does: a pause ends, and schedules that would be on
    in the next N minutes are held off until then."""
    b = box()
    _, child = _household_child(child_id)
    try:
        said = grants.give_more_time(b.engine(), child_id, child.name, body.minutes, b.now())
    except store.HouseholdError as exc:
        raise ApiError(400, _sentence(exc)) from None
    return _done(said + ".", child_id)


@operation(
    bp, "POST", "/children/<int:child_id>/allow", "Allow an app or a website for a while",
    tag=TAG, body=AllowBody, write=True,
)  # fmt: skip
def allow(child_id: int, body: AllowBody) -> Any:
    """As approving an "unblock" request does: for 15 minutes, an hour or today it is a
    temporary change that ends by itself; "always" is an allow rule on the child's page."""
    b = box()
    _, child = _household_child(child_id)
    kind, value = ("app", body.app) if body.app else ("domain", body.domain or "")
    if kind == "app" and b.catalog.get(value) is None:
        raise ApiError(400, f"There is no app called {value!r} in the catalogue.")
    try:
        said = grants.allow_for(b.engine(), child_id, child.name, kind, value, body.for_, b.now())
    except (store.HouseholdError, OverlayError) as exc:
        raise ApiError(400, _sentence(exc)) from None
    return _done(said + ".", child_id)


@operation(
    bp, "DELETE", "/children/<int:child_id>/temporary/<int:overlay_id>",
    "End a temporary change early", tag=TAG, write=True,
)  # fmt: skip
def end_temporary(child_id: int, overlay_id: int) -> Any:
    """The child's page's "end now" button on more time or a timed allow."""
    b = box()
    engine = b.engine()
    if not any(o.id == overlay_id for o in overlays.list_overlays(engine, child_id)):
        raise ApiError(404, f"There is no temporary change {overlay_id} for this child.")
    overlays.end_overlay(engine, overlay_id, b.now())
    return _done("Ended.", child_id)


@operation(bp, "GET", "/children/<int:child_id>/schedules", "A child's schedules", tag=TAG)
def list_schedules(child_id: int) -> Any:
    """Weekly windows, each with the words the child's page uses."""
    _household_child(child_id)
    found = store.list_schedules(box().engine(), child_id)
    return jsonify({"schedules": [shapes.schedule(s) for s in found]})


@operation(
    bp, "POST", "/children/<int:child_id>/schedules", "Add a schedule", tag=TAG,
    body=ScheduleBody, write=True,
)  # fmt: skip
def add_schedule(child_id: int, body: ScheduleBody) -> Any:
    """The same checks as the child's page (a name, days, a window, what goes off)."""
    _household_child(child_id)
    try:
        saved = store.add_schedule(
            box().engine(),
            child_id,
            body.name,
            body.days,
            body.start,
            body.end,
            block_all=body.block_all,
            block=() if body.block_all else body.block,
            allow=body.allow,
            all_day=body.all_day,
        )
    except store.HouseholdError as exc:
        raise ApiError(400, _sentence(exc)) from None
    return jsonify({"message": f"Saved {saved.name}.", "schedule": shapes.schedule(saved)})


@operation(
    bp, "DELETE", "/children/<int:child_id>/schedules/<int:schedule_id>", "Remove a schedule",
    tag=TAG, write=True,
)  # fmt: skip
def remove_schedule(child_id: int, schedule_id: int) -> Any:
    engine = box().engine()
    if not any(s.id == schedule_id for s in store.list_schedules(engine, child_id)):
        raise ApiError(404, f"There is no schedule {schedule_id} for this child.")
    store.remove_schedule(engine, schedule_id)
    return jsonify({"message": "Removed."})
