"""`houserules prompts list|suggest` and `houserules help-guide [TOPIC]`.

`prompts suggest` needs a child's age and week of events from the store. It reaches them through
the module-level hooks below (`load_child`, `load_events`, `load_discussed`, `load_app_lookup`),
wired to `agent.store.household`, `agent.store.events` and the app catalogue; tests can stand in
for them.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from agent.cli import CliError
from agent.commands.common import engine as _engine
from agent.commands.common import zone as _zone
from agent.config import Config
from agent.events import Event
from agent.rules.catalog import CatalogError, load_catalog
from agent.talk import guides as help_mod
from agent.talk import prompts as prompts_mod
from agent.talk.letters import ContentError
from agent.talk.prompts import AppLookup, Prompt
from agent.talk.suggest import Suggestion, suggest

WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


# --- hooks: where the store and catalogue plug in ---------------------------------------------


def _store_module(name: str) -> Any:
    """`agent.store.<name>`, or CliError if the store is not there."""
    try:
        importlib.import_module("agent.store")  # the package first, even if the module is cached
        return importlib.import_module(f"agent.store.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("agent.store", f"agent.store.{name}"):
            raise
        raise CliError(f"the {name} store is not available yet") from None


def load_child(cfg: Config, name: str) -> int | None:
    """The named child's age in years today; CliError for a child the household does not know."""
    household = _store_module("household")
    child = household.get_child_by_name(_engine(cfg), name)
    if child is None:
        raise CliError(f"no child called {name!r}")
    return child.age_on(today(cfg))


def load_events(cfg: Config, child: str, start: date, end: date) -> list[Event]:
    """The child's events from `start` to `end` inclusive (local days), times in local time."""
    household, events = _store_module("household"), _store_module("events")
    engine, tz = _engine(cfg), _zone(cfg)
    found = household.get_child_by_name(engine, child)
    name = found.name if found is not None else child
    since = datetime.combine(start, time(), tz)
    until = datetime.combine(end + timedelta(days=1), time(), tz)
    return [
        replace(e, time=e.time.astimezone(tz))
        for e in events.events_between(engine, name, since, until)
    ]


def load_discussed(cfg: Config, child: str) -> dict[str, date]:
    """Prompt id -> the date a parent last marked it discussed with this child (the
    dashboard's Talk page records that)."""
    engine = _engine(cfg)
    found = _store_module("household").get_child_by_name(engine, child)
    if found is None:
        return {}
    return _store_module("talk").discussed(engine, found.id, _zone(cfg))


def load_app_lookup(cfg: Config) -> AppLookup | None:
    """App id -> (category, flags) from the app catalogue; None if the catalogue is unreadable."""
    try:
        catalog = load_catalog()
    except CatalogError:
        return None

    def lookup(app_id: str) -> tuple[str, frozenset[str]] | None:
        app = catalog.get(app_id)
        return (app.category, app.flags) if app is not None else None

    return lookup


def today(cfg: Config) -> date:
    """The box's date in its own time zone (the machine's clock may be in UTC)."""
    return datetime.now(_zone(cfg)).date()


# --- commands ---------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prompts", help="conversation prompts drawn from the letters")
    actions = p.add_subparsers(dest="prompts_action", metavar="ACTION", required=True)
    lst = actions.add_parser("list", help="every prompt with its triggers, ages and sources")
    lst.add_argument("--json", action="store_true", help="print JSON")
    lst.set_defaults(func=cmd_list)
    sg = actions.add_parser("suggest", help="what to talk about with a child this week")
    sg.add_argument("--child", required=True, metavar="NAME", help="the child's name")
    sg.add_argument("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W47 (default: this)")
    sg.add_argument("--json", action="store_true", help="print JSON")
    sg.set_defaults(func=cmd_suggest)
    hg = sub.add_parser("help-guide", help="what to do if something has happened online")
    hg.add_argument("topic", nargs="?", metavar="TOPIC", help="a guide; leave out to list them")
    hg.set_defaults(func=cmd_help_guide)


def parse_week(text: str) -> tuple[date, date]:
    """An ISO week like 2026-W47 -> (its Monday, its Sunday); CliError if malformed."""
    m = WEEK.match(text.strip())
    if not m:
        raise CliError(f"--week must look like 2026-W47, not {text!r}")
    try:
        start = date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise CliError(f"--week {text}: that year has no such week") from None
    return start, start + timedelta(days=6)


def _library() -> prompts_mod.Library:
    try:
        return prompts_mod.default_library()
    except ContentError as exc:
        raise CliError(f"the prompt library is broken: {exc}") from None


def cmd_list(cfg: Config, args: argparse.Namespace) -> int:
    lib = _library()
    if args.json:
        print(json.dumps([_prompt_json(p) for p in lib.prompts], indent=2))
        return 0
    for p in lib.prompts:
        print(f"{p.id}  (ages {p.min_age}-{p.max_age}, {p.topic})")
        print(f"    triggers: {', '.join(str(t) for t in p.triggers)}")
        print(f"    sources:  {', '.join(p.sources)}")
    return 0


def cmd_suggest(cfg: Config, args: argparse.Namespace) -> int:
    if args.week:
        start, end = parse_week(args.week)
    else:
        monday = today(cfg) - timedelta(days=today(cfg).weekday())
        start, end = monday, monday + timedelta(days=6)
    iso = start.isocalendar()
    week = f"{iso.year}-W{iso.week:02d}"
    age = load_child(cfg, args.child)
    picks = suggest(
        load_events(cfg, args.child, start, end),
        age,
        discussed=load_discussed(cfg, args.child),
        today=min(end, today(cfg)),
        app_lookup=load_app_lookup(cfg),
        library=_library(),
    )
    if args.json:
        out = {"child": args.child, "week": week, "age": age}
        out["suggestions"] = [_suggestion_json(s) for s in picks]
        print(json.dumps(out, indent=2))
        return 0
    _print_suggestions(args.child, week, picks)
    return 0


def _print_suggestions(child: str, week: str, picks: list[Suggestion]) -> None:
    if not picks:
        print(f"No conversation prompts suit {child}'s age; see `houserules help-guide`.")
        return
    letters = _library().letters
    print(f"Things to talk about with {child} ({week}):")
    for n, s in enumerate(picks, 1):
        p = s.prompt
        print(f"\n{n}. {s.why}")
        print(f'   Say:         "{p.opener}"')
        print("   Then ask:    " + "\n                ".join(p.follow_ups))
        print(f"   Listen for:  {p.listen_for}")
        print(f"   One step:    {p.step}")
        if p.help_url:
            print(f"   App help:    {p.help_url}")
        cites = [letters[f].citation for f in p.sources]
        print("   Based on:    " + "\n                ".join(cites))


def cmd_help_guide(cfg: Config, args: argparse.Namespace) -> int:
    try:
        book = help_mod.load_help()
    except ContentError as exc:
        raise CliError(f"the help guides are broken: {exc}") from None
    ids = [g.id for g in book.guides]
    if args.topic is None:
        print("What to do if... (houserules help-guide TOPIC)")
        for g in book.guides:
            print(f"  {g.id:<22} {g.title}")
        return 0
    if args.topic not in ids:
        raise CliError(f"no guide called {args.topic!r}; topics: {', '.join(ids)}")
    print(help_mod.format_guide(book.get(args.topic)), end="")
    return 0


def _prompt_json(p: Prompt) -> dict[str, Any]:
    return {
        "id": p.id,
        "topic": p.topic,
        "triggers": [str(t) for t in p.triggers],
        "ages": [p.min_age, p.max_age],
        "sources": list(p.sources),
        "help_url": p.help_url,
    }


def _suggestion_json(s: Suggestion) -> dict[str, Any]:
    p, e = s.prompt, s.event
    event = None
    if e is not None:
        event = {"id": e.id, "kind": str(e.kind), "severity": str(e.severity), "app": e.app}
        event["time"] = e.time.isoformat()
    return {
        **_prompt_json(p),
        "score": s.score,
        "why": s.why,
        "event": event,
        "opener": p.opener,
        "follow_ups": list(p.follow_ups),
        "listen_for": p.listen_for,
        "step": p.step,
    }
