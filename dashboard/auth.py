"""Logging in: the first-run setup page, the login page, logging out, and who is logged in.

Sessions are Flask-Login's, in a signed cookie (HttpOnly, SameSite=Lax). A session names the
account and its `session_version`, so a password change ends every other session. Failed
logins (and wrong setup codes) are throttled per client address (`agent.store.accounts`).
"""

from __future__ import annotations

import logging
import math

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from agent.store import accounts
from dashboard.box import Unavailable, box
from dashboard.forms import LoginForm, SetupForm
from dashboard.security import ensure_setup_code, forget_setup_code, setup_code_matches

log = logging.getLogger("houserules.dashboard")
bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in to see that page."
login_manager.session_protection = "basic"


class Parent(UserMixin):
    def __init__(self, account: accounts.Account) -> None:
        self.account = account
        self.id = f"{account.id}:{account.session_version}"

    @property
    def name(self) -> str:
        return self.account.name


@login_manager.user_loader
def load_parent(user_id: str) -> Parent | None:
    account_id, _, version = user_id.partition(":")
    if not account_id.isdigit() or not version.isdigit():
        return None
    try:
        account = accounts.get_account(box().engine(), int(account_id))
    except Unavailable:
        return None
    if account is None or account.session_version != int(version):
        return None
    return Parent(account)


def has_accounts() -> bool:
    """Whether the first account exists."""
    b = box()
    if not b.accounts_exist:
        b.accounts_exist = accounts.has_accounts(b.engine())
    return b.accounts_exist


def start_session(account: accounts.Account) -> None:
    session.clear()  # nothing from before the login carries over
    login_user(Parent(account))
    session.permanent = True


def _client() -> str:
    return request.remote_addr or "unknown"


def _throttled() -> int:
    """Seconds this client must still wait (0: go ahead)."""
    return math.ceil(accounts.login_wait(box().engine(), _client(), box().now()))


def _failed() -> None:
    b = box()
    d = b.cfg.dashboard
    wait = accounts.note_failure(
        b.engine(),
        _client(),
        b.now(),
        allowed=d.login_failures_allowed,
        base=d.lockout_seconds,
        cap=d.lockout_max_seconds,
    )
    if wait:
        log.warning("dashboard: %s locked out for %.0f s after failed logins", _client(), wait)


@bp.route("/setup", methods=("GET", "POST"))
def setup() -> Response | str | tuple[str, int]:
    if has_accounts():
        return redirect(url_for("auth.login"))
    code_file = current_app.config["SETUP_CODE_FILE"]
    ensure_setup_code(code_file)
    form = SetupForm()
    status = 200
    if form.validate_on_submit():
        wait = _throttled()
        if wait:
            form.code.errors.append(f"Too many tries: wait {wait} seconds, then try again.")
        elif not setup_code_matches(code_file, form.code.data or ""):
            _failed()
            form.code.errors.append("That is not the setup code.")
        else:
            try:
                account = accounts.create_account(
                    box().engine(),
                    form.name.data or "",
                    form.password.data or "",
                    box().now(),
                    first=True,
                )
            except accounts.AccountError as exc:
                form.password.errors.append(str(exc))
            else:
                forget_setup_code(code_file)
                accounts.note_success(box().engine(), _client())
                start_session(account)
                flash(f"Welcome, {account.name}. Next: add your children.", "ok")
                return redirect(url_for("home.index"))
    if form.errors:
        status = 400
    return render_template("auth/setup.html", form=form, code_file=code_file), status


@bp.route("/login", methods=("GET", "POST"))
def login() -> Response | str | tuple[str, int]:
    if not has_accounts():
        return redirect(url_for("auth.setup"))
    form = LoginForm()
    if form.validate_on_submit():
        wait = _throttled()
        if wait:
            form.password.errors.append(f"Too many tries: wait {wait} seconds, then try again.")
        else:
            account = accounts.authenticate(
                box().engine(), form.name.data or "", form.password.data or "", box().now()
            )
            if account is None:
                _failed()
                form.password.errors.append("That name and password do not match.")
            else:
                accounts.note_success(box().engine(), _client())
                start_session(account)
                return redirect(_next_page())
    status = 400 if form.errors else 200
    return render_template("auth/login.html", form=form), status


def _next_page() -> str:
    wanted = request.args.get("next", "")
    # Only a path on this site: never send a parent somewhere else after logging in.
    if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return url_for("home.index")


@bp.route("/logout", methods=("POST",))
@login_required
def logout() -> Response:
    logout_user()
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("auth.login"))
