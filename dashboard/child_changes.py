"""Putting things right on a child's page: their name and birth date, removing them, editing a
schedule, and ending a temporary change (an overlay) early.

Every form carries a CSRF token; removing a child asks first on a page of its own.
"""

from __future__ import annotations

from datetime import time
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from agent.rules.household import Schedule
from agent.rules.schedule_words import schedule_words
from agent.store import household as store
from agent.store import overlays
from dashboard import child_page
from dashboard.box import box
from dashboard.forms import ChildEditForm, ScheduleForm, options

bp = Blueprint("changes", __name__)
SOON = "The DNS follows within a couple of seconds."
SAVED = f"Saved. {SOON}"


def _child(child_id: int) -> Any:
    child = store.load_household(box().engine()).child_by_id.get(child_id)
    if child is None:
        abort(404)
    return child


@bp.route("/child/<int:child_id>/about", methods=("GET", "POST"))
@login_required
def about(child_id: int) -> Response | tuple[str, int]:
    """Rename a child or correct their birth date; an adult's date needs a tick to confirm."""
    child = _child(child_id)
    form = ChildEditForm(data={"name": child.name, "born": child.born})
    confirm = False
    if form.validate_on_submit():
        b = box()
        try:
            store.update_child(
                b.engine(),
                child_id,
                name=form.name.data or "",
                born=form.born.data,
                today=b.now().date(),
                adult_ok=bool(form.adult_ok.data),
            )
        except store.NeedsConfirmation as exc:
            confirm = True
            form.born.errors.append(_sentence(exc))
        except store.HouseholdError as exc:
            form.name.errors.append(_sentence(exc))
        else:
            flash(SAVED, "ok")
            return redirect(url_for("child.show", child_id=child_id))
    status = 400 if form.errors else 200
    return render_template("child/about.html", child=child, form=form, confirm=confirm), status


@bp.route("/child/<int:child_id>/remove", methods=("GET", "POST"))
@login_required
def remove(child_id: int) -> Response | str:
    """A page that says what goes, then removes the child when the parent confirms."""
    child = _child(child_id)
    form = FlaskForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        removed = store.remove_child(box().engine(), child_id)
        devices = removed.devices_unassigned
        flash(
            f"Removed {removed.name} with their rules and schedules."
            + (f" {devices} device(s) are now unassigned: say whose they are." if devices else ""),
            "ok",
        )
        return redirect(url_for("home.index"))
    household = store.load_household(box().engine())
    return render_template(
        "child/remove.html",
        child=child,
        form=form,
        devices=[d for d in household.devices if d.child_id == child_id],
        rules=len([r for r in household.rules if r.child_id == child_id]),
        schedules=household.rules_for(child_id).schedules,
    )


def schedule_values(form: ScheduleForm) -> dict[str, Any] | None:
    """The store's arguments from a valid schedule form, or None with errors on the form."""
    block_all = form.scope.data == "all"
    if not block_all and not form.block.data:
        form.block.errors.append("Tick at least one category, or choose the whole internet")
    all_day = bool(form.all_day.data)
    if not all_day and form.start.data is None:
        form.start.errors.append("Give a start time, or tick All day")
    if not all_day and form.end.data is None:
        form.end.errors.append("Give an end time, or tick All day")
    if form.block.errors or form.start.errors or form.end.errors:
        return None
    return {
        "name": form.name.data or "",
        "days": [int(d) for d in form.days.data or ()],
        "start": form.start.data or time(0),
        "end": form.end.data or time(0),
        "block_all": block_all,
        "block": () if block_all else form.block.data or (),
        "allow": [d for d in (form.allow.data or "").replace(" ", ",").split(",") if d],
        "all_day": all_day,
    }


def save_schedule(form: ScheduleForm, child_id: int, schedule_id: int | None) -> bool:
    """Add (`schedule_id` None) or change a schedule from the form, and say in words what it
    will do; False with errors on the form."""
    values = schedule_values(form)
    if values is None:
        return False
    engine = box().engine()
    try:
        if schedule_id is None:
            saved = store.add_schedule(engine, child_id, **values)
        else:
            saved = store.update_schedule(engine, schedule_id, **values)
    except store.HouseholdError as exc:
        text = str(exc)
        target = form.allow if "domain" in text else form.end if "all day" in text else form.name
        target.errors.append(_sentence(exc))
        return False
    flash(f"Saved {saved.name}: {schedule_words(saved)}. {SOON}", "ok")
    return True


@bp.route("/child/<int:child_id>/schedules/<int:schedule_id>/edit", methods=("GET", "POST"))
@login_required
def edit_schedule(child_id: int, schedule_id: int) -> Response | tuple[str, int]:
    child = _child(child_id)
    schedule = next(
        (s for s in store.list_schedules(box().engine(), child_id) if s.id == schedule_id), None
    )
    if schedule is None:
        abort(404)
    form = ScheduleForm(data=_form_data(schedule))
    form.block.choices = options(child_page.schedule_categories(box()))
    if form.validate_on_submit() and save_schedule(form, child_id, schedule_id):
        return redirect(url_for("child.show", child_id=child_id) + "#schedules")
    status = 400 if form.errors else 200
    page = render_template("child/schedule.html", child=child, schedule=schedule, form=form)
    return page, status


def _form_data(s: Schedule) -> dict[str, Any]:
    return {
        "name": s.name,
        "days": [str(d) for d in sorted(s.days)],
        "start": s.start,
        "end": s.end,
        "all_day": s.start == s.end,
        "scope": "all" if s.block_all else "some",
        "block": sorted(s.block),
        "allow": ", ".join(s.allow),
    }


@bp.route("/child/<int:child_id>/overlays/<int:overlay_id>/end", methods=("POST",))
@login_required
def end_overlay(child_id: int, overlay_id: int) -> Response:
    b = box()
    engine = b.engine()
    if not any(o.id == overlay_id for o in overlays.list_overlays(engine, child_id)):
        abort(404)
    overlays.end_overlay(engine, overlay_id, b.now())
    flash(f"Ended. {SAVED.removeprefix('Saved. ')}", "ok")
    return redirect(url_for("child.show", child_id=child_id) + "#now")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]
