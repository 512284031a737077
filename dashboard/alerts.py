"""Alerts: what happened in plain words, what to say about it, what to do next; acknowledging.

Each event is described by `agent.events.registry.describe_for_dashboard`; the conversation
prompt and next step are the best match `agent.talk.suggest.suggest` finds for that one event
(from the prompts, which cite the letters they come from).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent.events import Event, Severity
from agent.events import urgent as urgent_words
from agent.events.registry import describe_for_dashboard, spec
from agent.store import household as store
from agent.store.events import acknowledge, list_events, unacknowledged_alerts
from agent.talk import guides
from agent.talk.suggest import Suggestion, suggest
from dashboard.box import Box, box

bp = Blueprint("alerts", __name__)
PER_PAGE = 50
WORTH_SHOWING = Severity.at_least(Severity.NOTICE)  # "only what matters"


@dataclass(frozen=True)
class Urgent:
    """What an urgent alert's card adds: act today, calmly, and the helplines."""

    act_today: str
    helplines: list[urgent_words.Helpline]
    guide: str | None
    guide_title: str | None
    child_id: int | None


@dataclass(frozen=True)
class Item:
    event: Event
    text: str
    suggestion: Suggestion | None
    guide: str | None
    urgent: Urgent | None = None


def items(b: Box, events: list[Event]) -> list[Item]:
    """One page of events in words; reads only the devices and children they name."""
    engine = b.engine()
    devices = store.device_labels(engine, (e.device or "" for e in events))
    children = {c.name.lower(): c for c in store.list_children(engine)}
    today = b.now().date()
    out = []
    for e in events:
        child = children.get((e.child or "").lower())
        age = child.age_on(today) if child is not None else None
        found = suggest([e], age, today=today, limit=1, app_lookup=b.app_lookup)
        best = found[0] if found and found[0].event is not None else None
        named = e
        if e.app and not e.details.get("app_name"):  # the words name apps by it
            named = replace(e, details={**e.details, "app_name": b.app_name(e.app)})
        text = describe_for_dashboard(named, b.tz, devices)
        help_ = _urgent(e, child.id if child is not None else None)
        out.append(Item(e, text, best, spec(e.kind).guide, help_))
    return out


def _urgent(e: Event, child_id: int | None) -> Urgent | None:
    if not urgent_words.is_urgent(e):
        return None
    topics = set(guides.topics())
    guide = urgent_words.guide_id(e)
    guide = guide if guide in topics else spec(e.kind).guide
    title = guides.guide(guide).title if guide in topics else None
    return Urgent(urgent_words.act_today(e), urgent_words.helplines(e), guide, title, child_id)


def urgent_first(b: Box, child: str | None, events: list[Event], page: int) -> list[Event]:
    """On the first page, every unread urgent alert first (newest first), then the rest."""
    if page != 1:
        return events
    unread = list_events(b.engine(), child, limit=PER_PAGE, severities=(Severity.URGENT,))
    top = [e for e in unread if not e.acknowledged]
    ids = {e.id for e in top}
    return [*top, *(e for e in events if e.id not in ids)]


@bp.route("/alerts")
@login_required
def index() -> str:
    b = box()
    child = request.args.get("child") or None
    everything = request.args.get("all") == "1"
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    severities = None if everything else WORTH_SHOWING
    events = list_events(
        b.engine(), child, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE, severities=severities
    )
    more = len(events) > PER_PAGE
    return render_template(
        "alerts/index.html",
        items=items(b, urgent_first(b, child, events[:PER_PAGE], page)),
        child=child,
        everything=everything,
        page=page,
        more=more,
        letters=_letters(),
        guide_title=lambda topic: guides.guide(topic).title,
    )


@bp.route("/alerts/<int:event_id>/ack", methods=("POST",))
@login_required
def ack(event_id: int) -> Response:
    b = box()
    if not acknowledge(b.engine(), event_id, b.now()):
        abort(404)
    back = request.form.get("back", "")
    if back.startswith("/") and not back.startswith("//"):  # pressed on Home
        flash("Marked as seen: the other carers can see that you have it in hand.", "ok")
        return redirect(back)
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
