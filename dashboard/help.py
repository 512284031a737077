"""Help: what to do if something has happened (the guides drawn from the letters, with where
to report and get help), and how to set up the box."""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import login_required

from agent.talk import guides
from agent.talk.guides import Route

bp = Blueprint("help", __name__)
URGENT = ("police-999", "ceop", "police-101", "childline", "iwf", "nspcc")


def routes() -> list[Route]:
    """Every place to report or get help, the urgent ones first."""
    found: dict[str, Route] = {}
    for topic in guides.topics():
        for route in guides.guide(topic).routes:
            found.setdefault(route.id, route)
    first = [found[r] for r in URGENT if r in found]
    return first + [r for rid, r in found.items() if rid not in URGENT]


@bp.route("/help")
@login_required
def index() -> str:
    return render_template(
        "help/index.html",
        guides=[guides.guide(t) for t in guides.topics()],
        routes=routes(),
    )


@bp.route("/help/setup")
@login_required
def setup() -> str:
    return render_template("help/setup.html")


@bp.route("/help/<topic>")
@login_required
def guide(topic: str) -> str:
    try:
        found = guides.guide(topic)
    except KeyError:
        abort(404)
    return render_template("help/guide.html", guide=found)
