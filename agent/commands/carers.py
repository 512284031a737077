"""`houserules carer|digest|email`: the adults who get news by email, and the emails.

    carer add NAME --email ADDR --children A,B [--alerts] [--day sun] [--time 18:00]
    carer update NAME [--email ADDR] [--children A,B] [--alerts | --no-alerts] [--day] [--time]
    carer list [--json]                       carer remove NAME
    digest preview [--carer NAME] [--week YYYY-Www] [--html FILE]
    digest send [--carer NAME] [--now]        digest status
    email test ADDR

The clock and the mail server are reached through `now()` and `make_mailer()`, so tests can
stand in for them. The engine and the week parsing are the prompts commands' own.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agent.cli import CliError
from agent.commands.common import engine as _engine
from agent.commands.common import zone as _zone
from agent.commands.prompts import parse_week
from agent.config import WEEKDAY_NAMES, Config
from agent.digest.collect import due_in_week, iso_week, period_for
from agent.digest.delivery import Sender
from agent.digest.jobs import EmailJobs
from agent.digest.mailer import Mailer, MailError
from agent.digest.messages import email_test_message
from agent.digest.render_html import render_html
from agent.digest.render_text import render_text
from agent.store import carers as store
from agent.store.digest import delivery_problems, list_digest_sends

# --- hooks ------------------------------------------------------------------------------------


def now(cfg: Config) -> datetime:
    return datetime.now(ZoneInfo(cfg.rules.timezone))


def make_mailer(cfg: Config) -> Sender:
    return Mailer.from_config(cfg)


# --- commands ---------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    carer = _group(sub, "carer", "the adults who get the weekly digest and alert emails")
    p = carer.add_parser("add", help="add a carer")
    p.add_argument("name", metavar="NAME")
    _carer_options(p, required=True)
    p.set_defaults(func=carer_add)
    p = carer.add_parser("update", help="change a carer's address, children or emails")
    p.add_argument("name", metavar="NAME")
    _carer_options(p, required=False)
    p.set_defaults(func=carer_update)
    p = carer.add_parser("list", help="list the carers")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=carer_list)
    p = carer.add_parser("remove", help="remove a carer")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=carer_remove)

    digest = _group(sub, "digest", "the weekly digest email")
    p = digest.add_parser("preview", help="print a digest and write its HTML part to a file")
    p.add_argument("--carer", metavar="NAME", help="whose digest (default: about every child)")
    p.add_argument("--week", metavar="YYYY-Www", help="the digest due that week (default: now)")
    p.add_argument("--html", metavar="FILE", default="digest-preview.html", help="HTML file")
    p.set_defaults(func=digest_preview)
    p = digest.add_parser("send", help="send the digests that are due and not yet sent")
    p.add_argument("--carer", metavar="NAME", help="only this carer")
    p.add_argument("--now", action="store_true", help="send the last 7 days now, due or not")
    p.set_defaults(func=digest_send)
    p = digest.add_parser("status", help="recent digests and anything that did not go out")
    p.set_defaults(func=digest_status)

    email = _group(sub, "email", "the mail server")
    p = email.add_parser("test", help="send a test email and show the server's answer")
    p.add_argument("address", metavar="ADDR")
    p.set_defaults(func=email_test)


def _group(sub: Any, name: str, text: str) -> Any:
    p = sub.add_parser(name, help=text)
    return p.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)


def _carer_options(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--email", required=required, metavar="ADDR", help="their email address")
    p.add_argument(
        "--children", required=required, metavar="A,B", help="the children they hear about"
    )
    if required:
        p.add_argument("--alerts", action="store_true", help="also email alerts as they happen")
    else:
        p.add_argument("--alerts", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--day", metavar="DAY", help="digest day: mon ... sun (default from config)")
    p.add_argument("--time", metavar="HH:MM", help="digest time (default from config)")


def carer_add(cfg: Config, args: argparse.Namespace) -> int:
    day = args.day or cfg.email.digest_day
    at = args.time or cfg.email.digest_time
    try:
        carer = store.add_carer(
            _engine(cfg),
            args.name,
            args.email,
            _names(args.children),
            alerts=args.alerts,
            digest_day=store.parse_day(day),
            digest_time=store.parse_time(at),
            now=now(cfg),
        )
    except store.CarerError as exc:
        raise CliError(str(exc)) from None
    print(f"Added {carer.name} <{carer.email}>: {_summary(carer)}.")
    if not cfg.email.enabled:
        print("Email is not set up yet: add [email] host and sender to the config to send.")
    return 0


def carer_update(cfg: Config, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    carer = _carer(engine, args.name)
    changes: dict[str, Any] = {}
    try:
        if args.email is not None:
            changes["email"] = args.email
        if args.children is not None:
            changes["children"] = _names(args.children)
        if args.alerts is not None:
            changes["alerts"] = args.alerts
        if args.day is not None:
            changes["digest_day"] = store.parse_day(args.day)
        if args.time is not None:
            changes["digest_time"] = store.parse_time(args.time)
        if not changes:
            raise CliError("nothing to change: give --email, --children, --alerts, --day or --time")
        carer = store.update_carer(engine, carer.id, **changes)
    except store.CarerError as exc:
        raise CliError(str(exc)) from None
    print(f"Updated {carer.name} <{carer.email}>: {_summary(carer)}.")
    return 0


def carer_list(cfg: Config, args: argparse.Namespace) -> int:
    carers = store.list_carers(_engine(cfg))
    if args.json:
        print(json.dumps([_carer_json(c) for c in carers], indent=2))
        return 0
    if not carers:
        print("No carers yet. Add one: houserules carer add NAME --email ADDR --children NAME")
        return 0
    for c in carers:
        print(f"{c.name} <{c.email}>: {_summary(c)}")
        if c.address_problem:
            print(f"  ! not emailing this address: {c.address_problem}")
    return 0


def carer_remove(cfg: Config, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    carer = _carer(engine, args.name)
    store.remove_carer(engine, carer.id)
    print(f"Removed {carer.name}; they will get no more emails.")
    return 0


def digest_preview(cfg: Config, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    carer = _carer(engine, args.carer) if args.carer else None
    tz = _zone(cfg)
    if args.week:
        parse_week(args.week)  # a clear message for a malformed week
        day = carer.digest_day if carer else WEEKDAY_NAMES.index(cfg.email.digest_day)
        at = carer.digest_time if carer else store.parse_time(cfg.email.digest_time)
        period = period_for(due_in_week(args.week, day, at, tz))
    else:
        period = period_for(now(cfg))
    _catch_up(cfg, engine)
    digest = _jobs(cfg, engine).build(carer, period)
    print(f"Subject: {digest.subject}\n")
    print(render_text(digest), end="")
    path = Path(args.html)
    try:
        path.write_text(render_html(digest))
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    print(f"\nThe HTML part is in {path}: open it in a browser to see the email.")
    return 0


def digest_send(cfg: Config, args: argparse.Namespace) -> int:
    _need_email(cfg)
    engine = _engine(cfg)
    jobs = _jobs(cfg, engine)
    if args.now:
        chosen = [_carer(engine, args.carer)] if args.carer else list(store.list_carers(engine))
        if not chosen:
            raise CliError("no carers yet: houserules carer add NAME --email ADDR --children NAME")
        _catch_up(cfg, engine)
        failures = 0
        for carer in chosen:
            try:
                answer = jobs.send_digest_now(carer)
            except MailError as exc:
                failures += 1
                print(f"Not sent to {carer.name} <{carer.email}>: {exc}")
            else:
                print(f"Sent to {carer.name} <{carer.email}>. The server said: {answer}")
        return 1 if failures else 0
    if args.carer:
        _carer(engine, args.carer)
    outcomes = jobs.send_due_digests(args.carer)
    if not outcomes:
        week = iso_week(now(cfg).date())
        print(f"Nothing to send: every digest due by now ({week}) has gone out or waits to retry.")
        print("To send the last 7 days now anyway: houserules digest send --now")
        return 0
    for o in outcomes:
        print(f"{o.what} for {o.carer}: {o.status}. {o.detail}")
    return 0 if all(o.status == "sent" for o in outcomes) else 1


def digest_status(cfg: Config, args: argparse.Namespace) -> int:
    engine = _engine(cfg)
    names = {c.id: c.name for c in store.list_carers(engine)}
    tz = _zone(cfg)
    sends = list_digest_sends(engine)[:10]
    if not sends:
        print("No digests sent yet.")
    for s in sends:
        when = f" {s.sent_at.astimezone(tz):%a %d %b %H:%M}" if s.sent_at else ""
        print(f"{s.week}  {names.get(s.carer_id, '?'):<16} {s.status}{when}")
    problems = delivery_problems(engine, now(cfg))
    if problems:
        print("\nNot delivered:")
    for p in problems:
        retry = f"; next try {p.next_try.astimezone(tz):%a %H:%M}" if p.next_try else ""
        print(f"  {p.carer} <{p.email}>, {p.what}: {p.problem}{retry}")
    return 0


def email_test(cfg: Config, args: argparse.Namespace) -> int:
    _need_email(cfg)
    try:
        address = store.check_email(args.address)
        answer = make_mailer(cfg).send(email_test_message(cfg.email.sender, address, now(cfg)))
    except store.CarerError as exc:
        raise CliError(str(exc)) from None
    except MailError as exc:
        raise CliError(f"the test email was not sent: {exc}") from None
    where = f"{cfg.email.host}:{cfg.email.port}"
    print(f"The mail server {where} accepted the test email for {address}.")
    print(f"It said: {answer}")
    print("If it does not arrive in a few minutes, look in the spam folder.")
    return 0


# --- helpers ----------------------------------------------------------------------------------


def _jobs(cfg: Config, engine: Any) -> EmailJobs:
    return EmailJobs(cfg, engine, clock=lambda: now(cfg), mailer=make_mailer(cfg))


def _catch_up(cfg: Config, engine: Any) -> None:
    """Bring the insights up to date first, so a digest built now includes what happened in
    the last seconds (the jobs process does this every 30 s; the pass is idempotent)."""
    from agent.dns.neighbours import read_neighbours
    from agent.insights.job import InsightsJob
    from agent.rules.catalog import load_catalog
    from agent.store.household import load_household

    InsightsJob(engine, load_catalog(), cfg).run(
        load_household(engine), read_neighbours(), now(cfg)
    )


def _need_email(cfg: Config) -> None:
    if not cfg.email.enabled:
        raise CliError(f"email is not set up: add [email] host and sender to {cfg.source}")


def _carer(engine: Any, name: str) -> store.Carer:
    carer = store.get_carer_by_name(engine, name)
    if carer is None:
        raise CliError(f"no carer called {name!r} (see houserules carer list)")
    return carer


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _summary(c: store.Carer) -> str:
    alerts = "digest and alerts" if c.alerts else "digest only"
    return f"hears about {', '.join(c.children) or 'no one'}; {alerts}, {c.digest_when}"


def _carer_json(c: store.Carer) -> dict[str, Any]:
    return {
        "name": c.name,
        "email": c.email,
        "children": list(c.children),
        "alerts": c.alerts,
        "digest_day": WEEKDAY_NAMES[c.digest_day],
        "digest_time": f"{c.digest_time:%H:%M}",
        "address_problem": c.address_problem,
    }
