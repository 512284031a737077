"""Settings: parents' accounts and passwords, carers and their emails, and the box's settings.

Upstream DNS, blocklist sources and how long history is kept live in the config file (the one
source of truth, also read by the DNS process): they are shown here with where to change them.
The lists can be fetched and compiled again now, in the background.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from agent.dns.family import provider_for
from agent.lists import job as lists_job
from agent.lists.index import IndexLoadError, ListIndex
from agent.store import accounts, api_tokens, lease
from agent.store import household as store
from dashboard.auth import start_session
from dashboard.box import Box, box
from dashboard.forms import AccountForm, CarerForm, PasswordForm, TokenForm, options
from dashboard.home import lists_damaged

bp = Blueprint("settings", __name__)


def optional(name: str) -> ModuleType | None:
    """A store module another area provides, or None while it does not exist yet."""
    try:
        return importlib.import_module(f"agent.store.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"agent.store.{name}":
            raise
        return None


def _carer_form(b: Box) -> CarerForm:
    form = CarerForm()
    form.children.choices = options((c.name, c.name) for c in store.list_children(b.engine()))
    return form


def config_file(b: Box) -> str:
    """Where the settings shown here are changed."""
    if b.cfg.source == "built-in defaults":
        return "config.toml (there is none yet: copy config.example.toml)"
    return b.cfg.source


def _index_status(b: Box) -> dict[str, Any]:
    if lists_damaged(b):
        return {"damaged": True, "error": "Damaged: they are being rebuilt (see above)."}
    try:
        index = ListIndex.load(b.cfg.resolve(b.cfg.blocklists.compiled_dir))
    except IndexLoadError as exc:
        return {"error": str(exc)}
    return {"built_at": index.built_at, "complete": index.complete, "sources": index.sources}


def _household_jobs(b: Box, engine: Any) -> dict[str, Any]:
    """Which box sends the emails and works out the insights (two boxes share one database;
    `agent.ops.leader`), and whether it is this one."""
    held = lease.current(engine)
    here = b.cfg.jobs.box
    if held is None or not held.live:
        return {"box": None, "here": here}
    return {"box": held.box, "here": here, "this": held.box == here, "since": held.taken_at}


def _page(status: int = 200, **forms: Any) -> tuple[str, int]:
    b = box()
    engine = b.engine()
    carers, digest = optional("carers"), optional("digest")
    context: dict[str, Any] = {
        "cfg": b.cfg,
        "config_file": config_file(b),
        "family": provider_for(b.cfg.upstream.children),
        "accounts": accounts.list_accounts(engine),
        "me": current_user.account.id,
        "account_form": AccountForm(),
        "password_form": PasswordForm(),
        "tokens": api_tokens.list_tokens(engine),
        "token_form": TokenForm(),
        "new_token": None,
        "carers": carers.list_carers(engine) if carers else None,
        "carer_form": _carer_form(b) if carers else None,
        "problems": digest.delivery_problems(engine, b.now()) if digest else [],
        "index": _index_status(b),
        "lists": b.lists,
        "household_jobs": _household_jobs(b, engine),
    }
    context.update(forms)
    return render_template("settings/index.html", **context), status


@bp.route("/settings")
@login_required
def index() -> tuple[str, int]:
    return _page()


@bp.route("/settings/accounts", methods=("POST",))
@login_required
def add_account() -> Response | tuple[str, int]:
    form = AccountForm()
    if form.validate_on_submit():
        try:
            added = accounts.create_account(
                box().engine(), form.name.data or "", form.password.data or "", box().now()
            )
        except accounts.AccountError as exc:
            form.name.errors.append(str(exc))
        else:
            flash(f"Added {added.name}. They can log in now.", "ok")
            return redirect(url_for("settings.index") + "#accounts")
    return _page(400, account_form=form)


@bp.route("/settings/tokens", methods=("POST",))
@login_required
def add_token() -> Response | tuple[str, int]:
    """Make an API token and show it this once (only its hash is kept)."""
    form = TokenForm()
    if form.validate_on_submit():
        try:
            made, token = api_tokens.create_token(
                box().engine(), form.name.data or "", form.scope.data or "", box().now()
            )
        except api_tokens.TokenError as exc:
            form.name.errors.append(str(exc))
        else:
            return _page(new_token={"token": token, "name": made.name})
    return _page(400, token_form=form)


@bp.route("/settings/tokens/<int:token_id>/revoke", methods=("POST",))
@login_required
def revoke_token(token_id: int) -> Response:
    if not api_tokens.revoke_token(box().engine(), token_id):
        abort(404)
    flash("Revoked. Anything using that token is turned away from now on.", "ok")
    return redirect(url_for("settings.index") + "#tokens")


@bp.route("/settings/accounts/<int:account_id>/remove", methods=("POST",))
@login_required
def remove_account(account_id: int) -> Response:
    try:
        accounts.remove_account(box().engine(), account_id)
    except accounts.AccountError as exc:
        flash(str(exc), "error")
    else:
        flash("Removed.", "ok")
    return redirect(url_for("settings.index") + "#accounts")


@bp.route("/settings/password", methods=("POST",))
@login_required
def password() -> Response | tuple[str, int]:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            account = accounts.change_password(
                box().engine(), current_user.account.id, form.current.data, form.new.data
            )
        except accounts.AccountError as exc:
            target = form.current if "current" in str(exc) else form.new
            target.errors.append(str(exc))
        else:
            start_session(account)  # this session carries on; every other one is logged out
            flash("Password changed. Other phones and computers need to log in again.", "ok")
            return redirect(url_for("settings.index") + "#password")
    return _page(400, password_form=form)


@bp.route("/settings/carers", methods=("POST",))
@login_required
def add_carer() -> Response | tuple[str, int]:
    carers = optional("carers")
    if carers is None:
        abort(404)
    b = box()
    form = _carer_form(b)
    if form.validate_on_submit():
        try:
            carers.add_carer(
                b.engine(),
                form.name.data or "",
                form.email.data or "",
                form.children.data or [],
                alerts=bool(form.alerts.data),
                now=b.now(),
            )
        except carers.CarerError as exc:
            target = form.email if "email" in str(exc) else form.name
            target.errors.append(str(exc)[:1].upper() + str(exc)[1:])
        else:
            flash("Added. They get the weekly digest once email is set up.", "ok")
            return redirect(url_for("settings.index") + "#carers")
    return _page(400, carer_form=form)


@bp.route("/settings/carers/<int:carer_id>/remove", methods=("POST",))
@login_required
def remove_carer(carer_id: int) -> Response:
    carers = optional("carers")
    if carers is None:
        abort(404)
    try:
        carers.remove_carer(box().engine(), carer_id)
    except carers.CarerError:
        abort(404)
    flash("Removed.", "ok")
    return redirect(url_for("settings.index") + "#carers")


@bp.route("/settings/lists/update", methods=("POST",))
@login_required
def update_lists() -> Response:
    b = box()
    if start_lists_update(b):
        flash("Updating the lists now. This page shows the result when it is done.", "ok")
    else:
        flash("The lists are already being updated.", "ok")
    return redirect(url_for("settings.index") + "#lists")


def start_lists_update(b: Box) -> bool:
    """Fetch and compile every list, a one-off job on the jobs process's scheduler; False if
    one is already queued or running."""
    state = b.lists

    def run() -> None:
        try:
            outcome = lists_job.compile_now(b.cfg, b.catalog)
            ok, lines = outcome.ok, outcome.lines
        except Exception as exc:  # a failed update must be reported, not crash the dashboard
            ok, lines = False, [f"the update failed: {exc}"]
        with state.lock:
            state.ok, state.lines, state.finished = ok, lines, b.now()
            state.running = False

    with state.lock:
        was_running, state.running = state.running, True
    if b.jobs.run_soon("lists update", run):
        return True
    with state.lock:
        state.running = was_running
    return False
