"""Alerts: what happened in plain words, what to say about it, what to do next; acknowledging.

Each event is described by `agent.insights.wording.describe`; the conversation prompt and next
step are the best match `agent.talk.suggest.suggest` finds for that one event (from the prompts,
which cite the letters they come from).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent.events import Event, EventKind, Severity
from agent.insights.wording import describe
from agent.store import household as store
from agent.store.events import acknowledge, list_events, unacknowledged_alerts
from agent.talk import guides
from agent.talk.suggest import Suggestion, suggest
from dashboard.box import Box, box

bp = Blueprint("alerts", __name__)
SHOWN = 100
# Guides on the Help page that fit an event, besides the general "your child tells you".
GUIDES = {
    EventKind.RANDOM_VIDEO_CHAT: "block-and-report",
    EventKind.VIDEO_CHAT: "block-and-report",
    EventKind.NEW_CONTACT: "block-and-report",
    EventKind.CONCERNING_SEARCH: "child-tells-you",
}


@dataclass(frozen=True)
class Item:
    event: Event
    text: str
    suggestion: Suggestion | None
    guide: str | None


def words(event: Event, b: Box, devices: dict[str, str]) -> str:
    """The event in plain words; a child's request is said here (the insights wording does
    not know about requests)."""
    if event.kind != EventKind.CHILD_REQUEST:
        return describe(event, b.tz, devices)
    d = event.details
    who = event.child or "A child"
    at = event.time.astimezone(b.tz).strftime("%H:%M")
    if d.get("request") == "more_time":
        minutes = f"{d['minutes']} more minutes" if d.get("minutes") else "more time"
        text = f"{who} asked for {minutes} at {at}."
    else:
        what = b.app_name(event.app) or d.get("site") or "something"
        text = f"{who} asked you to unblock {what} at {at}."
    if d.get("message"):
        text += f" They wrote: “{d['message']}”."
    return text + " Answer on Home."


def items(b: Box, events: list[Event]) -> list[Item]:
    household = store.load_household(b.engine())
    devices = {d.mac or d.ip or "": d.label for d in household.devices}
    today = b.now().date()
    out = []
    for e in events:
        child = household.child_by_name.get((e.child or "").lower())
        age = child.age_on(today) if child is not None else None
        found = suggest([e], age, today=today, limit=1, app_lookup=b.app_lookup)
        best = found[0] if found and found[0].event is not None else None
        out.append(Item(e, words(e, b, devices), best, GUIDES.get(e.kind)))
    return out


@bp.route("/alerts")
@login_required
def index() -> str:
    b = box()
    child = request.args.get("child") or None
    everything = request.args.get("all") == "1"
    events = list_events(b.engine(), child, limit=SHOWN)
    if not everything:
        events = [e for e in events if e.severity != Severity.INFO]
    return render_template(
        "alerts/index.html",
        items=items(b, events),
        child=child,
        everything=everything,
        letters=_letters(),
        guide_title=lambda topic: guides.guide(topic).title,
    )


@bp.route("/alerts/<int:event_id>/ack", methods=("POST",))
@login_required
def ack(event_id: int) -> Response:
    b = box()
    if not acknowledge(b.engine(), event_id, b.now()):
        abort(404)
    return redirect(url_for("alerts.index", **_filters()) + f"#event-{event_id}")


@bp.route("/alerts/ack-all", methods=("POST",))
@login_required
def ack_all() -> Response:
    b = box()
    engine, now = b.engine(), b.now()
    done = sum(acknowledge(engine, e.id, now) for e in unacknowledged_alerts(engine) if e.id)
    flash(f"Marked {done} alert(s) as read.", "ok")
    return redirect(url_for("alerts.index", **_filters()))


def _filters() -> dict[str, str]:
    return {k: v for k in ("child", "all") if (v := request.form.get(k, ""))}


def _letters() -> dict[str, str]:
    from agent.talk.prompts import default_library

    return {file: letter.citation for file, letter in default_library().letters.items()}
