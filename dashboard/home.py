"""Home: each child at a glance today, one-tap pause and resume, and requests to answer."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent.events import urgent as urgent_words
from agent.household import requests
from agent.lists import health as index_health
from agent.rules.household import Child
from agent.rules.now import Now, now_for
from agent.rules.overlays import UNBLOCK_CHOICES, OverlayError, pause_until
from agent.store import household as store
from agent.store.events import unacknowledged_alerts
from agent.store.rollups import DaySummary, day_summary
from dashboard import alerts, applies, child_page
from dashboard import budgets as budget_views
from dashboard.box import Box, box

bp = Blueprint("home", __name__)
SOON = "The DNS follows within a couple of seconds."


@dataclass(frozen=True)
class Card:
    child: Child
    age: int
    now: Now
    today: DaySummary
    alerts: int
    overlays: list[child_page.Running]
    budgets: list[budget_views.BudgetView]


def lists_damaged(b: Box) -> bool:
    """Whether the compiled lists on disk are damaged (the DNS rebuilds them by itself)."""
    return bool(index_health.damaged_files(b.cfg.resolve(b.cfg.blocklists.compiled_dir)))


@bp.route("/")
@login_required
def index() -> str:
    b = box()
    engine, now = b.engine(), b.now()
    household = store.load_household(engine)
    unread = unacknowledged_alerts(engine)
    pressing = [e for e in reversed(unread) if urgent_words.is_urgent(e)]  # newest first
    cards = [
        Card(
            child=c,
            age=c.age_on(now.date()),
            now=now_for(household, c, now),
            today=day_summary(engine, c.name, now.date(), top=3),
            alerts=sum(1 for e in unread if e.child == c.name),
            overlays=child_page.running(b, household, c, now),
            budgets=budget_views.today(b, household, c, now),
        )
        for c in household.children
    ]
    return render_template(
        "home/index.html",
        cards=cards,
        urgent=alerts.items(b, pressing),
        urgent_heading=urgent_words.HEADING,
        pending=requests.list_requests(engine, status="pending"),
        unblock_choices=UNBLOCK_CHOICES,
        unassigned=[d for d in household.devices if d.owner == "unassigned"],
        household_alerts=sum(1 for e in unread if e.child is None),
        lists_damaged=lists_damaged(b),
        app_name=b.app_name,
        words=applies,
        clock=now,
    )


@bp.route("/children/<int:child_id>/pause", methods=("POST",))
@login_required
def pause(child_id: int) -> Response:
    b = box()
    now = b.now()
    try:
        until = pause_until(request.form.get("for", ""), now)
    except OverlayError:
        abort(400)
    try:
        store.pause(b.engine(), until, child_id=child_id)
    except store.HouseholdError:
        abort(404)
    flash(f"Paused until {until:%H:%M}. {SOON}", "ok")
    return redirect(_back())


@bp.route("/children/<int:child_id>/resume", methods=("POST",))
@login_required
def resume(child_id: int) -> Response:
    try:
        resumed = store.resume(box().engine(), child_id=child_id)
    except store.HouseholdError:
        abort(404)
    flash(f"The internet is back on. {SOON}" if resumed else "There was no pause.", "ok")
    return redirect(_back())


@bp.route("/requests/<int:request_id>", methods=("POST",))
@login_required
def decide(request_id: int) -> Response:
    b = box()
    approve = request.form.get("decision") == "approve"
    minutes = request.form.get("minutes", "")
    try:
        answered = requests.decide_request(
            b.engine(),
            request_id,
            approve,
            int(minutes) if minutes.isdigit() else None,
            b.now(),
            unblock_for=request.form.get("for", "always"),
        )
    except requests.RequestError as exc:
        flash(str(exc), "error")
        return redirect(url_for("home.index"))
    if answered.status == "approved":
        flash(f"Approved. {answered.outcome}. {SOON}", "ok")
    else:
        flash(f"Declined. {answered.child} will see that on their page.", "ok")
    return redirect(url_for("home.index"))


def _back() -> str:
    """Where the button was pressed (Home or a child's page)."""
    wanted = request.form.get("back", "")
    return (
        wanted if wanted.startswith("/") and not wanted.startswith("//") else url_for("home.index")
    )
