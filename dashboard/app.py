"""The parents' dashboard: the Flask application factory, one blueprint per area.

    create_app(test_config=None, *, cfg=None, engine_factory=None) -> Flask

`cfg` is the box's config (loaded from the usual places if None); `engine_factory` returns the
database engine, or None while the database cannot be used (the jobs process passes its own);
`jobs` runs work a parent starts (updating the lists) on the jobs process's scheduler (without
one, the dashboard makes its own). Page views only read: nothing is written as a side effect.
`test_config` overrides Flask settings: tests give SECRET_KEY, CLOCK (a function returning the
box's time) and NEIGHBOURS (a function returning the IP -> MAC table). Production serving is
`dashboard.server.serve_dashboard`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response

from agent import config as config_mod
from agent.config import Config
from agent.store import accounts
from dashboard import api, auth, filters, metrics
from dashboard.api.errors import error_response
from dashboard.api.spec import PREFIX as API_PREFIX
from dashboard.box import Box, EngineFactory, Jobs, Unavailable, box
from dashboard.security import HostCheck, add_headers, secret_key, setup_code_path

log = logging.getLogger("houserules.dashboard")
SELF_GUARDED = ("api", "metrics")  # they answer for themselves: a token, never a login
csrf = CSRFProtect()
# No login: first run, the children's page, and what a device fetches while it is set up for
# the proxy (the PAC file and the box's public certificate; see dashboard.proxy).
PUBLIC = frozenset(
    {
        "auth.setup",
        "auth.login",
        "static",
        "kids.index",
        "kids.ask",
        "proxy.pac",
        "proxy.certificate",
    }
)


def create_app(
    test_config: Mapping[str, Any] | None = None,
    *,
    cfg: Config | None = None,
    engine_factory: EngineFactory | None = None,
    jobs: Jobs | None = None,
) -> Flask:
    app = Flask("dashboard")  # the package's name: its templates and static files
    cfg = cfg or config_mod.load(config_mod.find_config(None))
    key_path = cfg.resolve(cfg.dashboard.secret_key_file)
    app.config.from_mapping(
        SESSION_COOKIE_NAME="houserules_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=cfg.dashboard.session_days),
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
        MAX_CONTENT_LENGTH=64 * 1024,
        SETUP_CODE_FILE=setup_code_path(key_path),
        CLOCK=None,
        NEIGHBOURS=None,
    )
    if test_config is not None:
        app.config.from_mapping(test_config)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret_key(key_path)
    app.extensions["houserules"] = Box(
        cfg, engine_factory, app.config["CLOCK"], app.config["NEIGHBOURS"], jobs
    )
    csrf.init_app(app)
    auth.login_manager.init_app(app)
    filters.register(app)
    _register_blueprints(app)
    # SERVER_NAME, when a deployment (or a test) sets it, is by definition a name of ours
    _refuse_other_hosts(app, HostCheck.for_config(cfg, app.config.get("SERVER_NAME")))
    _register_hooks(app)
    return app


def _refuse_other_hosts(app: Flask, hosts: HostCheck) -> None:
    """First of all the hooks: a request naming a host that is not the dashboard's own gets
    400 before any page, login or database is touched (DNS rebinding)."""

    @app.before_request
    def own_host_only() -> tuple[str, int, dict[str, str]] | None:
        host = request.environ.get("HTTP_HOST")
        if host is None or hosts.allows(host):
            return None
        log.warning("refused a request for host %s (not one of the dashboard's names)", host)
        text = "This dashboard answers only to the box's own name or address.\n"
        return text, 400, {"Content-Type": "text/plain; charset=utf-8"}


def _register_blueprints(app: Flask) -> None:
    from dashboard import (
        alerts,
        budgets,
        child,
        child_changes,
        devices,
        help,
        home,
        kids,
        profiles,
        proxy,
        settings,
        talk,
    )

    modules = (auth, home, child, child_changes, budgets, devices, profiles, alerts, talk, help)
    modules = (*modules, settings, proxy)
    for module in (*modules, kids):
        app.register_blueprint(module.bp)
    api.register(app)
    metrics.register(app)


def _register_hooks(app: Flask) -> None:
    @app.before_request
    def first_run() -> Response | None:
        if (
            request.endpoint is None
            or request.endpoint in PUBLIC
            or request.blueprint in SELF_GUARDED
        ):
            return None
        if not auth.has_accounts():
            return redirect(url_for("auth.setup"))
        return None

    @app.context_processor
    def globals_for_templates() -> dict[str, Any]:
        unread = 0
        if current_user.is_authenticated:
            try:
                from agent.store.events import count_unacknowledged_alerts

                unread = count_unacknowledged_alerts(box().engine())
            except Unavailable:
                pass
        return {"unread_alerts": unread, "min_password": accounts.MIN_PASSWORD}

    app.after_request(add_headers)

    @app.errorhandler(Unavailable)
    def unavailable(exc: Unavailable) -> tuple[str, int]:
        return render_template("unavailable.html"), 503

    @app.errorhandler(CSRFError)
    def csrf_failed(exc: CSRFError) -> tuple[str, int]:
        return render_template("error.html", title="This form has expired", status=400), 400

    @app.errorhandler(404)
    def not_found(exc: Exception) -> Response | tuple[str, int]:
        if request.path.startswith(API_PREFIX + "/"):
            return error_response(404, "There is nothing at this address in the API.")
        return render_template("error.html", title="There is no such page", status=404), 404

    @app.errorhandler(405)
    def not_allowed(exc: Exception) -> Response | tuple[str, int]:
        if request.path.startswith(API_PREFIX + "/"):
            return error_response(405, f"{request.method} is not used at this address.")
        return render_template("error.html", title="That is not possible here", status=405), 405
