"""The JSON API under /api/v1, served by the dashboard process.

Every request carries a token a parent made in Settings (`Authorization: Bearer hr_...`); the
session cookie is never read here, so a page on another site cannot use a parent's login (which
is also why the API needs no CSRF token). No token or a wrong one is a 401; a wrong one also
counts against the client's address exactly as a failed login does (`dashboard.auth`), so
guessing tokens is as slow as guessing passwords. A read-only token trying to change something
is a 403. Errors are JSON: `{"error": "<what went wrong, for a person>"}`.

The handlers adapt: every rule lives in `agent.store` / `agent.rules` and the functions the
pages use (`dashboard.applies`), never here.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from agent.store import api_tokens
from dashboard import auth
from dashboard.api.errors import ApiError, error_response
from dashboard.api.spec import PREFIX, openapi
from dashboard.box import Unavailable, box

bp = Blueprint("api", __name__, url_prefix=PREFIX)
OPEN = frozenset({"api.openapi_json"})  # describes the API; holds nothing of the family's


def bearer() -> str | None:
    """The token in the Authorization header, or None."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def check_bearer(keys: tuple[str, ...]) -> api_tokens.ApiToken:
    """The request's token, or an ApiError (401, or 429 while its address is locked out)."""
    token = bearer()
    if token is None:
        raise ApiError(
            401,
            "Send a token as 'Authorization: Bearer <token>' (make one in Settings).",
            {"WWW-Authenticate": 'Bearer realm="houserules"'},
        )
    wait = auth.throttled(keys)
    if wait:
        raise ApiError(
            429, f"Too many wrong tokens: wait {wait} seconds.", {"Retry-After": str(wait)}
        )
    b = box()
    found = api_tokens.check_token(b.engine(), token, b.now())
    if found is None:
        auth.failed(keys)
        raise ApiError(
            401,
            "That token is not valid (it may have been revoked).",
            {"WWW-Authenticate": 'Bearer realm="houserules", error="invalid_token"'},
        )
    auth.succeeded(keys)
    return found


@bp.before_request
def require_token() -> None:
    if request.endpoint in OPEN:
        return
    g.api_token = check_bearer((auth.client_address(),))


@bp.after_request
def no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.errorhandler(ApiError)
def api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.message, exc.headers)


@bp.errorhandler(Unavailable)
def unavailable(exc: Unavailable) -> Response:
    return error_response(503, "The box's database cannot be used right now; try again soon.")


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    return error_response(exc.code or 500, exc.description or exc.name)


@bp.route("/openapi.json")
def openapi_json() -> Any:
    return jsonify(openapi())


def register(app: Flask) -> None:
    """Add the API to the dashboard; its requests need no CSRF token (they use no cookie)."""
    from dashboard import csrf
    from dashboard.api import activity, children, devices  # noqa: F401  (routes)

    csrf.exempt(bp)
    app.register_blueprint(bp)
