"""The children's page (no login): the rules that apply to you now, in friendly words, and a
button to ask for more time or for something to be unblocked.

The page is shown to the device that asks: it is found the way the DNS finds it (by Wi-Fi
address from the neighbour table, else by IP address), so a child sees their own rules and
nobody else's. Being open about the rules is part of the advice in the letters: children who
understand them are more likely to come forward when something goes wrong.

The block page of the optional proxy links here as `/kids?site=<host>`: the site is filled in
the "unblock" form, so asking takes one tap.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from agent.household import checks, requests
from agent.rules.catalog import App
from agent.rules.household import Child, Device, Household
from agent.store import household as store
from dashboard import applies, child_page
from dashboard import budgets as budget_views
from dashboard.box import Box, box
from dashboard.forms import MoreTimeForm, UnblockForm, options

bp = Blueprint("kids", __name__)
MAX_HOST = 253  # the longest a DNS name can be
# Under 13 the page never names or offers these: nothing a child that age should be shown as
# a choice, nor asked to ask for. Apps for 18 and over count as "adult" whatever their category.
NOT_UNDER_13 = frozenset({"adult", "dating", "gambling", "random-video-chat"})
YOUNG = 13


@dataclass(frozen=True)
class Asker:
    device: Device | None
    child: Child | None  # None: unknown device, or an adult's

    @property
    def key(self) -> str | None:
        return (self.device.mac or self.device.ip) if self.device else None


def asker(household: Household, b: Box) -> Asker:
    ip = request.remote_addr or ""
    mac = None
    try:
        if not ipaddress.ip_address(ip).is_loopback:
            mac = b.neighbours().get(ip)
    except ValueError:
        return Asker(None, None)
    device = household.device_for(ip, mac)
    if device is None or device.owner in ("unassigned", "adult"):
        return Asker(device, None)
    child, _ = household.whose_rules(device, b.cfg.rules.unassigned)
    return Asker(device, child)


def asked_site(raw: str | None) -> str | None:
    """The `site` the block page passed, if it is a plausible host name; anything else is
    ignored (it only ever fills in a form field)."""
    if not raw or len(raw) > MAX_HOST:
        return None
    try:
        return checks.check_domain(raw)
    except checks.HouseholdError:
        return None


def suitable(app: App, age: int) -> bool:
    """Whether the children's page may name or offer `app` to a child of `age`."""
    return age >= YOUNG or (app.category not in NOT_UNDER_13 and app.minimum_age < 18)


def _forms(
    statuses: list[applies.AppStatus], site: str | None = None
) -> tuple[MoreTimeForm, UnblockForm]:
    """`statuses`: the blocked apps the child may ask for."""
    unblock = UnblockForm(data={"site": site} if site else None)
    blocked = sorted((s for s in statuses if s.blocked), key=lambda s: s.app.name.lower())
    unblock.app.choices = options(
        [("", "Choose an app"), *((s.app.id, s.app.name) for s in blocked)]
    )
    return MoreTimeForm(), unblock


@bp.route("/kids")
def index() -> str:
    b = box()
    household = store.load_household(b.engine())
    who = asker(household, b)
    if who.child is None:
        return render_template("kids/unknown.html", device=who.device)
    now = b.now()
    child = who.child
    age = child.age_on(now.date())
    statuses = applies.app_statuses(b, household, child, now)
    off = [s for s in statuses if s.blocked and s.app.category != "vpn-proxy"]
    shown = [s for s in off if suitable(s.app, age)]
    site = asked_site(request.args.get("site"))
    more, unblock = _forms(shown, site)
    return render_template(
        "kids/index.html",
        child=child,
        now=applies.now_for(household, child, now),
        clock=now,
        schedules=household.rules_for(child.id).schedules,
        extra=child_page.running(b, household, child, now),
        budgets=budget_views.today(b, household, child, now),
        off=shown,
        grown_up_apps=len(off) - len(shown),
        youtube=applies.youtube_level(child, age),
        asked=requests.list_requests(b.engine(), child.id, since=now - timedelta(days=1)),
        more_form=more,
        unblock_form=unblock,
        site=site,
        words=applies,
        box=b,
    )


@bp.route("/kids/ask", methods=("POST",))
def ask() -> Response:
    b = box()
    who = asker(store.load_household(b.engine()), b)
    if who.child is None:
        flash("This device is not set up for a child yet: ask a grown-up.", "error")
        return redirect(url_for("kids.index"))
    asking = {"more_time": _more_time, "unblock": _unblock}.get(request.form.get("kind", ""))
    try:
        if asking is None:
            raise requests.RequestError("Choose what to ask for")
        asking(b, who.child, who.key)
    except requests.RequestError as exc:
        flash(f"{exc}.", "error")
    else:
        flash("Sent! A grown-up will see it and answer here.", "ok")
    return redirect(url_for("kids.index"))


def _more_time(b: Box, child: Child, device: str | None) -> None:
    form = MoreTimeForm()
    if not form.validate_on_submit():
        raise requests.RequestError("Pick how long, and keep the message short")
    minutes, message = int(form.minutes.data), form.message.data or ""
    requests.add_request(
        b.engine(), child.id, "more_time", b.now(), device=device, minutes=minutes, message=message
    )


def _unblock(b: Box, child: Child, device: str | None) -> None:
    form = UnblockForm()
    app_id, site = form.app.data or "", (form.site.data or "").strip()
    app = b.catalog.get(app_id) if app_id else None
    age = child.age_on(b.now().date())
    known = not app_id or (app is not None and suitable(app, age))
    if not form.validate_on_submit() or not known or not (app_id or site):
        raise requests.RequestError("Choose an app or type a website")
    requests.add_request(
        b.engine(),
        child.id,
        "unblock",
        b.now(),
        device=device,
        app=app_id or None,
        site=site or None,
        message=form.message.data or "",
        app_name=b.app_name(app_id) if app_id else None,
    )
