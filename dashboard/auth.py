"""Logging in: the first-run setup page, the login page, logging out, and who is logged in.

Sessions are Flask-Login's, in a signed cookie (HttpOnly, SameSite=Lax). A session names the
account and its `session_version`, so a password change ends every other session. Failed
logins are throttled per client address and per account, wrong setup codes per address and
for the box as a whole (`agent.store.accounts`), so rotating addresses gains nothing.
"""

from __future__ import annotations

import logging
import math
import re
from urllib.parse import urlsplit

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


def client_address() -> str:
    return request.remote_addr or "unknown"


def throttled(keys: tuple[str, ...]) -> int:
    """Seconds this try must still wait (0: go ahead): the longest wait of its keys."""
    b = box()
    return math.ceil(max(accounts.login_wait(b.engine(), key, b.now()) for key in keys))


def failed(keys: tuple[str, ...]) -> None:
    b = box()
    d = b.cfg.dashboard
    for key in keys:
        # An account or the setup code is tried from many addresses: it gets twice the tries
        # of one address before its back-off starts, so a parent's own typos meet the
        # per-address wait first.
        allowed = d.login_failures_allowed * (1 if key == client_address() else 2)
        wait = accounts.note_failure(
            b.engine(),
            key,
            b.now(),
            allowed=allowed,
            base=d.lockout_seconds,
            cap=d.lockout_max_seconds,
        )
        if wait:
            log.warning("dashboard: %s locked out for %.0f s after failed tries", key, wait)


def succeeded(keys: tuple[str, ...]) -> None:
    for key in keys:
        accounts.note_success(box().engine(), key)


@bp.route("/setup", methods=("GET", "POST"))
def setup() -> Response | str | tuple[str, int]:
    if has_accounts():
        return redirect(url_for("auth.login"))
    code_file = current_app.config["SETUP_CODE_FILE"]
    ensure_setup_code(code_file)
    form = SetupForm()
    status = 200
    if form.validate_on_submit():
        keys = accounts.throttle_keys(box().engine(), client_address())
        wait = throttled(keys)
        if wait:
            form.code.errors.append(f"Too many tries: wait {wait} seconds, then try again.")
        elif not setup_code_matches(code_file, form.code.data or ""):
            failed(keys)
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
                succeeded(keys)
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
        keys = accounts.throttle_keys(box().engine(), client_address(), form.name.data or "")
        wait = throttled(keys)
        if wait:
            form.password.errors.append(f"Too many tries: wait {wait} seconds, then try again.")
        else:
            account = accounts.authenticate(
                box().engine(), form.name.data or "", form.password.data or "", box().now()
            )
            if account is None:
                failed(keys)
                form.password.errors.append("That name and password do not match.")
            else:
                succeeded(keys)
                start_session(account)
                return redirect(_next_page())
    status = 400 if form.errors else 200
    return render_template("auth/login.html", form=form), status


# A path on this site and nothing else: printable ASCII with no spaces or backslashes (browsers
# drop tabs and newlines from a URL, so "/\t/evil.example" would become "//evil.example").
_SAME_SITE = re.compile(r"/(?![/\\])[!#-\[\]-~]*")


def _next_page() -> str:
    """Where to go after logging in: the page asked for when it is a path on this site (never
    another site, never a scheme-relative or malformed address), else Home."""
    wanted = request.args.get("next", "")
    if _SAME_SITE.fullmatch(wanted) and not urlsplit(wanted).netloc:
        return wanted
    return url_for("home.index")


@bp.route("/logout", methods=("POST",))
@login_required
def logout() -> Response:
    logout_user()
    session.clear()
    flash("You are logged out.", "ok")
    return redirect(url_for("auth.login"))
