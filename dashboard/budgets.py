"""Daily time budgets on the dashboard: today's used / allowed, the one-tap extra time
(+15, +30, +60, "no limit today"), and setting or removing a budget from a child's page.

What the minutes mean, and what they cannot see, is `docs/activity-estimate.md`; the form says
it in a sentence. Extra time is an overlay that ends when the budget's day ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent.rules import budgets as rules
from agent.rules.household import Budget, Child, Household
from agent.rules.overlays import next_at
from agent.store import budgets as store
from agent.store.household_tables import HouseholdError
from agent.store.overlays import add_overlay
from dashboard.box import Box, box

bp = Blueprint("budgets", __name__)
SOON = "The DNS follows within a couple of seconds."
# What a parent should expect, in plain words (the budget form and the docs say the same).
HONEST = (
    "Minutes are estimated from the names a device looks up, not from the screen: an app that "
    "is open can keep working for a few minutes after the time is up, and an app working in "
    "the background counts as use."
)


@dataclass(frozen=True)
class BudgetView:
    id: int
    title: str
    used: int
    allowed: int
    limit: int | None  # allowed + extra; None with no limit today
    left: int | None
    words: str  # "45 minutes left", "5 minutes left", "time's up", "no limit today"

    @property
    def warn(self) -> bool:
        return self.left is not None and 0 < self.left <= rules.WARN_MINUTES


def title(b: Box, budget: Budget) -> str:
    if budget.kind == "all":
        return "Online time"
    if budget.kind == "app":
        return b.app_name(budget.target)
    return budget.target.replace("-", " ").capitalize()


def today(b: Box, household: Household, child: Child, now: datetime) -> list[BudgetView]:
    """A child's budgets at `now`, as the DNS sees them (the snapshot's minutes)."""
    mine = household.rules_for(child.id)
    out = []
    for budget in mine.budgets:
        s = rules.state(budget, mine.overlays, now)
        out.append(
            BudgetView(
                budget.id,
                title(b, budget),
                s.used,
                s.allowed,
                s.limit,
                s.left,
                rules.left_words(s.left),
            )  # fmt: skip
        )
    return out


@bp.route("/budgets/<int:budget_id>/more", methods=("POST",))
@login_required
def more(budget_id: int) -> Response:
    b = box()
    choice = request.form.get("for", "")
    if choice not in rules.EXTRA_CHOICES:
        abort(400)
    try:
        budget = store.get_budget(b.engine(), budget_id)
        store.add_extra_time(b.engine(), budget, rules.EXTRA_CHOICES[choice], b.now())
    except HouseholdError:
        abort(404)
    said = "No limit today" if choice == "today" else f"{choice} more minutes today"
    flash(f"{said}. {SOON}", "ok")
    return redirect(_back())


@bp.route("/children/<int:child_id>/budgets", methods=("POST",))
@login_required
def set_budget(child_id: int) -> Response:
    b = box()
    form = request.form
    kind = form.get("kind", "")
    target = form.get("app", "") if kind == "app" else form.get("category", "")
    try:
        per_day = {
            d: int(form[f"day{d}"]) for d in range(7) if form.get(f"day{d}", "").strip().isdigit()
        }
        days = rules.week_of(int(form.get("school", "")), int(form.get("weekend", "")), per_day)
        store.set_budget(
            b.engine(), child_id, kind, target, days, int(form.get("reset_hour", "4") or 4)
        )
    except ValueError as exc:  # BudgetError and HouseholdError are ValueErrors too
        flash(
            f"The budget was not saved: {exc}"
            if not str(exc).startswith("invalid literal")
            else "The budget was not saved: give the minutes as whole numbers.",
            "error",
        )
        return redirect(url_for("child.show", child_id=child_id))
    flash(f"Daily budget saved. {SOON}", "ok")
    return redirect(url_for("child.show", child_id=child_id))


@bp.route("/children/<int:child_id>/reward", methods=("POST",))
@login_required
def reward(child_id: int) -> Response:
    """A treat in one step: an app or a website allowed, or a schedule (bedtime) held off,
    until a time today (tomorrow if that time has passed). An overlay with an end."""
    b = box()
    now = b.now()
    back = redirect(url_for("child.show", child_id=child_id))
    what, _, value = request.form.get("what", "").partition(":")
    site = request.form.get("site", "").strip()
    try:
        end = time.fromisoformat(request.form.get("until", ""))
    except ValueError:
        flash("The treat was not given: say until when, like 18:00.", "error")
        return back
    until = next_at(end, now)
    try:
        if site:
            add_overlay(b.engine(), child_id, "unblock", until, now, target_kind="domain",
                        target=site)  # fmt: skip
            said = f"{site} is allowed"
        elif what == "app" and value in b.catalog.apps:
            add_overlay(b.engine(), child_id, "unblock", until, now, target_kind="app",
                        target=value)  # fmt: skip
            said = f"{b.app_name(value)} is allowed"
        elif what == "category" and value in b.catalog.categories:
            add_overlay(b.engine(), child_id, "unblock", until, now, target_kind="category",
                        target=value)  # fmt: skip
            said = f"All {value.replace('-', ' ')} is allowed"
        elif what == "schedule" and value.isdigit():
            add_overlay(b.engine(), child_id, "more_time", until, now, schedule_id=int(value))
            said = "The schedule is off"
        else:
            flash("The treat was not given: choose an app, a website or a schedule.", "error")
            return back
    except HouseholdError as exc:
        flash(f"The treat was not given: {exc}.", "error")
        return back
    flash(f"{said} until {until:%H:%M}. {SOON}", "ok")
    return back


@bp.route("/budgets/<int:budget_id>/remove", methods=("POST",))
@login_required
def remove(budget_id: int) -> Response:
    b = box()
    try:
        budget = store.get_budget(b.engine(), budget_id)
        store.remove_budget(b.engine(), budget_id)
    except HouseholdError:
        abort(404)
    flash(f"Budget removed. {SOON}", "ok")
    return redirect(url_for("child.show", child_id=budget.child_id))


def _back() -> str:
    wanted = request.form.get("back", "")
    return (
        wanted if wanted.startswith("/") and not wanted.startswith("//") else url_for("home.index")
    )
