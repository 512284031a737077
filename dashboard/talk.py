"""Talk: this week's conversation prompts for each child, each citing the letter it comes from;
marking one as discussed, with a private note (which moves it aside for four weeks)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import login_required
from werkzeug.wrappers import Response

from agent.rules.household import Child
from agent.store import household as store
from agent.store import talk
from agent.store.events import events_between
from agent.talk.prompts import default_library
from agent.talk.suggest import Suggestion, suggest
from dashboard.box import Box, box
from dashboard.forms import DiscussedForm

bp = Blueprint("talk", __name__)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class ChildTalk:
    child: Child
    suggestions: list[Suggestion]
    notes: list[talk.TalkNote]


def for_child(b: Box, child: Child) -> ChildTalk:
    engine, now = b.engine(), b.now()
    events = [  # in local time: the reasons given say "Sat 17:49"
        replace(e, time=e.time.astimezone(b.tz))
        for e in events_between(engine, child.name, now - WEEK, now + timedelta(minutes=1))
    ]
    found = suggest(
        events,
        child.age_on(now.date()),
        discussed=talk.discussed(engine, child.id, b.tz),
        today=now.date(),
        limit=3,
        app_lookup=b.app_lookup,
    )
    return ChildTalk(child, found, talk.list_notes(engine, child.id, limit=5))


@bp.route("/talk")
@login_required
def index() -> str:
    b = box()
    household = store.load_household(b.engine())
    library = default_library()
    return render_template(
        "talk/index.html",
        talks=[for_child(b, c) for c in household.children],
        letters=library.letters,
        titles={p.id: p.opener for p in library.prompts},
    )


@bp.route("/talk/discussed", methods=("POST",))
@login_required
def discussed() -> Response:
    form = DiscussedForm()
    b = box()
    household = store.load_household(b.engine())
    child_id, prompt_id = form.child_id.data or "", form.prompt_id.data or ""
    if not child_id.isdigit() or int(child_id) not in household.child_by_id:
        abort(400)
    if prompt_id not in {p.id for p in default_library().prompts}:
        abort(400)
    if not form.validate_on_submit():
        flash("That note is too long: keep it under 1000 characters.", "error")
        return redirect(url_for("talk.index") + f"#child-{child_id}")
    talk.mark_discussed(b.engine(), int(child_id), prompt_id, b.now(), form.note.data or "")
    name = household.child_by_id[int(child_id)].name
    flash(f"Noted: you talked with {name} about this. Other topics come first for a while.", "ok")
    return redirect(url_for("talk.index") + f"#child-{child_id}")
