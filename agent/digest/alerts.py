"""Alert emails: alert-level events reach the carers who asked, soon, grouped, and not too often.

Every sweep (each 15 seconds) looks, per carer with alerts on, for alert events stored since the
last ones it emailed them, about their children (or about no child: a device nobody has
assigned), that no parent has acknowledged yet. The first sweep that finds some only notes the
moment; the email is queued once `alert_group_seconds` have passed since, so a burst (one
insights run after another) becomes one email, out within a minute. A carer gets at most one
alert email per `alert_gap_minutes`; alerts in between wait and go together in the next.
An urgent alert (a child may be at risk) is the exception: it is queued at the first sweep
that sees it, neither grouped nor held back by the gap, with any alerts waiting beside it, and
its email carries the helplines and asks the carer to act today, calmly.
Queued emails live in the outbox (`agent.store.digest`) until the server takes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

from sqlalchemy.engine import Engine

from agent.config import EmailConfig
from agent.digest.delivery import Outcome, Sender, deliver, failed
from agent.digest.messages import message
from agent.digest.model import Item
from agent.digest.render_html import render_note
from agent.digest.render_text import wrap
from agent.digest.words import event_words
from agent.events import Event, EventKind, registry
from agent.events import urgent as urgent_words
from agent.store.carers import Carer, list_carers
from agent.store.digest import (
    AlertState,
    alert_sends_due,
    alert_state,
    claim_alert,
    events_by_id,
    finish,
    note_pending,
    pending_alerts,
    queue_alert_email,
)

MAX_AGE = timedelta(days=1)  # older alerts (seen late, after the box was off) wait for the digest


def ready(state: AlertState, now: datetime, group_seconds: float, gap_minutes: float) -> bool:
    """Whether the waiting alerts should be emailed now (grouping, then the rate limit)."""
    if state.pending_since is None and group_seconds > 0:
        return False
    if (
        state.pending_since is not None
        and (now - state.pending_since).total_seconds() < group_seconds
    ):
        return False
    last = state.last_email_at
    return last is None or (now - last).total_seconds() >= gap_minutes * 60


def sweep(
    engine: Engine,
    cfg: EmailConfig,
    mailer: Sender,
    now: datetime,
    tz: tzinfo,
    dashboard_url: str,
    devices: dict[str, str] | None = None,
) -> list[Outcome]:
    """Queue what is ready, then send what is due. Returns what was tried."""
    carers = {c.id: c for c in list_carers(engine)}
    for carer in carers.values():
        if carer.alerts and carer.children and not carer.address_problem:
            _queue(engine, carer, cfg, now)
    outcomes = []
    for due in alert_sends_due(engine, now):
        carer = carers.get(due.carer_id)
        if carer is None or carer.address_problem:
            continue  # waits for a new address
        record = claim_alert(engine, due.id, now)
        if record is None:
            continue
        events = events_by_id(engine, record.event_ids)
        what = f"alert email ({len(events)} alert{'s' if len(events) != 1 else ''})"
        try:
            subject, text, html = alert_content(
                carer.name, events, tz, dashboard_url, cfg.alert_gap_minutes, devices
            )
            msg = message(
                cfg.sender,
                (carer.name, carer.email),
                subject,
                text,
                html,
                now,
                f"alert.{record.id}",
            )
        except Exception as exc:  # a bug here must not keep the row "sending" for an hour
            outcomes.append(failed(engine, record, carer, now, what, exc))
            continue
        if not events:  # forgotten since (houserules forget): nothing left to say
            finish(engine, record, now)
            continue
        outcomes.append(deliver(engine, mailer, record, carer, msg, now, what))
    return outcomes


def _queue(engine: Engine, carer: Carer, cfg: EmailConfig, now: datetime) -> None:
    state = alert_state(engine, carer.id)
    since = max(carer.created_at, now - MAX_AGE)
    waiting = [
        e
        for e in pending_alerts(engine, state.last_event_id, carer.children, since)
        if not e.acknowledged and e.id is not None
    ]
    if not waiting:
        if state.pending_since is not None:
            note_pending(engine, carer.id, None)
        return
    if state.pending_since is None:
        note_pending(engine, carer.id, now)
        state = replace(state, pending_since=now)
    urgent = any(urgent_words.is_urgent(e) for e in waiting)
    if urgent or ready(state, now, cfg.alert_group_seconds, cfg.alert_gap_minutes):
        ids = [e.id for e in waiting if e.id is not None]
        queue_alert_email(engine, carer.id, ids, now, at_once=urgent)


def alert_content(
    carer: str,
    events: Sequence[Event],
    tz: tzinfo,
    dashboard_url: str,
    gap_minutes: float,
    devices: dict[str, str] | None = None,
) -> tuple[str, str, str]:
    """(subject, text, html) for an alert email about `events`."""
    children = list(dict.fromkeys(e.child for e in events if e.child))
    who = " and ".join(children) if len(children) <= 2 else "your children"
    requests_only = all(e.kind == EventKind.CHILD_REQUEST for e in events)
    pressing = [e for e in events if urgent_words.is_urgent(e)]
    events = [*pressing, *(e for e in events if not urgent_words.is_urgent(e))]
    if pressing:
        first = pressing[0]
        subject = f"HouseRules: please check in with {first.child or 'your child'} today"
    elif len(events) == 1:
        e = events[0]
        label = registry.label(e.kind).lower()
        subject = (
            f"HouseRules: {e.child} asked for something"
            if requests_only
            else (f"HouseRules alert: {label}" + (f" ({e.child})" if e.child else ""))
        )
    else:
        subject = f"HouseRules: {len(events)} alerts" + (f" about {who}" if children else "")
    items = [
        Item(f"{e.time.astimezone(tz):%a %d %b %H:%M}: {event_words(e, tz, devices)}")
        for e in events
    ]
    opening = (
        "Something happened that you asked to hear about straight away."
        if len(events) == 1
        else "A few things happened that you asked to hear about straight away."
    )
    helplines = _helplines(pressing)
    if pressing:
        opening = "Something happened that needs you today."
        next_step = urgent_words.act_today(pressing[0])
        next_step += " Marking it as seen on the dashboard lets the other carers know."
    elif requests_only:
        next_step = "You can answer on the dashboard."
    else:
        next_step = (
            "No need to act in a hurry: talk about it calmly when you next can, without blame. "
            "The Help page on the dashboard says what to do if something has happened. Marking "
            "it as seen on the dashboard lets the other carers know."
        )
    danger = "" if requests_only or pressing else "If a child is in danger right now, call 999."
    footer = (
        "You get alert emails because you asked for them in HouseRules. At most one every "
        f"{gap_minutes:g} minutes: later alerts wait and come together. Urgent ones come at once."
    )
    link = f" {dashboard_url}" if dashboard_url else ""
    lines = [f"Hello {carer},", "", *wrap(opening), ""]
    for item in items:
        lines += wrap(item.text, "- ", "  ")
    lines += ["", *wrap(next_step + link), *wrap(danger)]
    if helplines:
        lines += ["", "Who can help, today or any time:"]
        for h in helplines:
            lines += wrap(h.line(), "- ", "  ")
    lines += ["", "-- ", *wrap(footer)]
    text = "\n".join(lines) + "\n"
    paragraphs = [f"Hello {carer}. {opening}"]
    after = [next_step, danger]
    if helplines:
        after += ["Who can help, today or any time:", *(h.line() for h in helplines)]
    html = render_note(subject, paragraphs, items, dashboard_url, footer, after=after)
    return subject, text, html


def _helplines(events: Sequence[Event]) -> list[urgent_words.Helpline]:
    """The helplines of the urgent events, each once, in the order the first event gives."""
    found: dict[str, urgent_words.Helpline] = {}
    for e in events:
        for h in urgent_words.helplines(e):
            found.setdefault(h.name, h)
    return list(found.values())
