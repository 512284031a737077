"""A child's page: their rules, schedules and activity; and adding a child.

Every change goes through `agent.store.household`, which moves the household version: the DNS
reloads the rules within about a second.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent.rules.household import Child, Household
from agent.store import household as store
from dashboard import budgets as budget_views
from dashboard import child_page
from dashboard.box import box
from dashboard.child_changes import save_schedule
from dashboard.forms import ChildForm, DomainRuleForm, ScheduleForm, SettingsForm, options

bp = Blueprint("child", __name__)
CHOICES = ("default", "allow", "block")
SAVED = "Saved. The DNS follows within a couple of seconds."


def _find(household: Household, child_id: int) -> Child:
    child = household.child_by_id.get(child_id)
    if child is None:
        abort(404)
    return child


def _page(child_id: int, status: int = 200, **forms: Any) -> tuple[str, int]:
    b = box()
    household = store.load_household(b.engine())
    child = _find(household, child_id)
    context = child_page.context(b, household, child, b.now())
    context.update(child_page.forms_for(b, child))
    context["budgets"] = budget_views.today(b, household, child, b.now())
    context["budget_note"] = budget_views.HONEST
    context["budget_categories"] = b.catalog.categories
    context["budget_apps"] = sorted(
        ((a.id, a.name) for a in b.catalog.apps.values()), key=lambda a: a[1].lower()
    )
    context.update({k: v for k, v in forms.items() if v is not None})
    return render_template("child/show.html", **context), status


@bp.route("/children/new", methods=("GET", "POST"))
@login_required
def new() -> Response | tuple[str, int]:
    form = ChildForm()
    if form.validate_on_submit():
        try:
            child = store.add_child(
                box().engine(), form.name.data or "", form.born.data, today=box().now().date()
            )
        except store.HouseholdError as exc:
            born_wrong = isinstance(exc, store.NeedsConfirmation) or "date of birth" in str(exc)
            (form.born if born_wrong else form.name).errors.append(_sentence(exc))
        else:
            flash(f"Added {child.name}. Next: say which devices are theirs.", "ok")
            return redirect(url_for("child.show", child_id=child.id))
    return render_template("child/new.html", form=form), 400 if form.errors else 200


@bp.route("/child/<int:child_id>")
@login_required
def show(child_id: int) -> tuple[str, int]:
    return _page(child_id)


@bp.route("/child/<int:child_id>/apps", methods=("POST",))
@login_required
def apps(child_id: int) -> Response:
    """Save one category's toggles: the category's own rule and each of its apps'."""
    b = box()
    engine = b.engine()
    household = store.load_household(engine)
    child = _find(household, child_id)
    category = request.form.get("category", "")
    if category not in b.catalog.categories:
        abort(400)
    mine = {(r.kind, r.value): r for r in household.rules if r.child_id == child.id}
    wanted = {("category", category): request.form.get("category_rule", "default")}
    for app in b.catalog.apps.values():
        if app.category == category:
            wanted[("app", app.id)] = request.form.get(f"app:{app.id}", "default")
    changed = 0
    for (kind, value), choice in wanted.items():
        if choice not in CHOICES:
            abort(400)
        rule = mine.get((kind, value))
        if choice == "default" and rule is not None and rule.id is not None:
            store.remove_rule(engine, rule.id)
            changed += 1
        elif choice != "default" and (rule is None or rule.verb != choice):
            store.add_rule(engine, child.id, choice, kind, value)
            changed += 1
    flash(SAVED if changed else "Nothing changed.", "ok")
    return redirect(url_for("child.show", child_id=child.id) + f"#cat-{category}")


@bp.route("/child/<int:child_id>/settings", methods=("POST",))
@login_required
def settings(child_id: int) -> Response | tuple[str, int]:
    form = SettingsForm()
    if not form.validate_on_submit():
        return _page(child_id, 400, settings_form=form)
    level = form.youtube_level.data
    try:
        store.set_child_settings(
            box().engine(),
            child_id,
            safe_search=bool(form.safe_search.data),
            youtube_level=None if level == "age" else level,
            protections_on=bool(form.protections_on.data),
        )
    except store.HouseholdError:
        abort(404)
    flash(SAVED, "ok")
    return redirect(url_for("child.show", child_id=child_id) + "#safety")


@bp.route("/child/<int:child_id>/domains", methods=("POST",))
@login_required
def domains(child_id: int) -> Response | tuple[str, int]:
    form = DomainRuleForm()
    if form.validate_on_submit():
        try:
            store.add_rule(box().engine(), child_id, form.verb.data, "domain", form.domain.data)
        except store.HouseholdError as exc:
            form.domain.errors.append(_sentence(exc))
        else:
            flash(SAVED, "ok")
            return redirect(url_for("child.show", child_id=child_id) + "#sites")
    return _page(child_id, 400, domain_form=form)


@bp.route("/child/<int:child_id>/rules/<int:rule_id>/remove", methods=("POST",))
@login_required
def remove_rule(child_id: int, rule_id: int) -> Response:
    engine = box().engine()
    if not any(r.id == rule_id for r in store.list_rules(engine, child_id)):
        abort(404)
    store.remove_rule(engine, rule_id)
    flash(SAVED, "ok")
    return redirect(url_for("child.show", child_id=child_id) + "#sites")


@bp.route("/child/<int:child_id>/schedules", methods=("POST",))
@login_required
def add_schedule(child_id: int) -> Response | tuple[str, int]:
    form = ScheduleForm()
    form.block.choices = options(child_page.schedule_categories(box()))
    if form.validate_on_submit() and save_schedule(form, child_id, None):
        return redirect(url_for("child.show", child_id=child_id) + "#schedules")
    return _page(child_id, 400, schedule_form=form)


@bp.route("/child/<int:child_id>/schedules/<int:schedule_id>/remove", methods=("POST",))
@login_required
def remove_schedule(child_id: int, schedule_id: int) -> Response:
    engine = box().engine()
    if not any(s.id == schedule_id for s in store.list_schedules(engine, child_id)):
        abort(404)
    store.remove_schedule(engine, schedule_id)
    flash(SAVED, "ok")
    return redirect(url_for("child.show", child_id=child_id) + "#schedules")


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:]
