"""`houserules events|summary|export|forget`: what the box noticed, and a child's data.

    events [--child NAME] [--since YYYY-MM-DD] [--json]
    summary --child NAME [--day YYYY-MM-DD | --week YYYY-Www] [--json]
    export --child NAME [--out FILE]
    forget --child NAME [--yes]

Everything is read through `agent.store` (events, rollups, privacy); the text layout lives in
`insights_text`. Times are shown in the box's timezone (`rules.timezone`).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from agent.cli import CliError
from agent.commands import insights_text as out
from agent.commands.common import engine, zone
from agent.config import Config
from agent.private import private_file
from agent.store import events as event_store
from agent.store import household as household_store
from agent.store import privacy, rollups

DEFAULT_DAYS = 7


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("events", help="what the box noticed: new devices, first uses, alerts")
    p.add_argument("--child", metavar="NAME", help="only this child's events")
    p.add_argument(
        "--since", metavar="YYYY-MM-DD", help=f"from this day (default: last {DEFAULT_DAYS} days)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_events)
    p = sub.add_parser("summary", help="a child's day or week: time online, apps, sites, blocks")
    p.add_argument("--child", required=True, metavar="NAME")
    when = p.add_mutually_exclusive_group()
    when.add_argument("--day", metavar="YYYY-MM-DD", help="a day (default: today)")
    when.add_argument("--week", metavar="YYYY-Www", help="an ISO week, e.g. 2026-W47")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_summary)
    p = sub.add_parser("export", help="write everything recorded about a child, as JSON")
    p.add_argument("--child", required=True, metavar="NAME")
    p.add_argument("--out", metavar="FILE", help="write to FILE (default: print)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("forget", help="delete everything recorded about a child's activity")
    p.add_argument("--child", required=True, metavar="NAME")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_forget)


# --- shared helpers ----------------------------------------------------------------------------


def now(cfg: Config) -> datetime:
    """The box's current time (tests replace this)."""
    return datetime.now(zone(cfg))


def child_name(eng: Engine, name: str) -> str:
    """The child's name as recorded: the household's spelling, else a name with data."""
    child = household_store.get_child_by_name(eng, name)
    if child is not None:
        return child.name
    cleaned = " ".join(name.split())
    if privacy.has_data(eng, cleaned):
        return cleaned
    raise CliError(f"no child called {name!r} (see: houserules child list)")


def parse_day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CliError(f"{flag} must look like 2026-11-16, not {text!r}") from None


def parse_week(text: str) -> date:
    """An ISO week like 2026-W47 -> its Monday; CliError if malformed."""
    year, _, week = text.strip().partition("-W")
    try:
        return date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise CliError(f"--week must look like 2026-W47, not {text!r}") from None


def device_names(eng: Engine) -> dict[str, str]:
    """Device key (MAC, else IP) -> what the family calls it."""
    names: dict[str, str] = {}
    for d in household_store.list_devices(eng):
        for key in (d.ip, d.mac):
            if key:
                names[key] = d.label
    return names


# --- commands ----------------------------------------------------------------------------------


def cmd_events(cfg: Config, args: argparse.Namespace) -> int:
    tz, eng = zone(cfg), engine(cfg)
    child = child_name(eng, args.child) if args.child else None
    if args.since:
        start = datetime.combine(parse_day(args.since, "--since"), time(), tz)
    else:
        start = datetime.combine(now(cfg).date() - timedelta(days=DEFAULT_DAYS - 1), time(), tz)
    found = list(reversed(event_store.list_events(eng, child, start, limit=10_000)))
    names = device_names(eng)
    if args.json:
        print(json.dumps([out.event_json(e, tz, names) for e in found], indent=2))
        return 0
    out.print_events(found, tz, names, child, start)
    return 0


def cmd_summary(cfg: Config, args: argparse.Namespace) -> int:
    tz, eng = zone(cfg), engine(cfg)
    child = child_name(eng, args.child)
    summary: rollups.DaySummary | rollups.WeekSummary
    if args.week:
        summary = rollups.week_summary(eng, child, parse_week(args.week))
    else:
        day = parse_day(args.day, "--day") if args.day else now(cfg).date()
        summary = rollups.day_summary(eng, child, day)
    if args.json:
        print(json.dumps(out.summary_json(summary, tz), indent=2))
        return 0
    out.print_summary(summary, tz)
    return 0


def cmd_export(cfg: Config, args: argparse.Namespace) -> int:
    tz, eng = zone(cfg), engine(cfg)
    child = child_name(eng, args.child)
    data: dict[str, Any] = {"exported_at": now(cfg).isoformat(), "timezone": str(tz)}
    data |= privacy.export_child(eng, child)
    text = json.dumps(data, indent=2, default=str)
    if not args.out:
        print(text)
        return 0
    target = Path(args.out)
    try:
        private_file(target).write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
    print(f"Wrote {child}'s data to {target}: {out.export_counts(data)}.")
    return 0


def cmd_forget(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = child_name(eng, args.child)
    if not args.yes and sys.stdin.isatty():
        print(f"This deletes everything HouseRules recorded about {child}'s activity.")
        answer = input(f"Type {child} to confirm: ")
        if answer.strip().lower() != child.lower():
            print("Nothing deleted.")
            return 1
    removed = privacy.forget_child(eng, child)
    print(out.forget_message(child, removed))
    return 0
