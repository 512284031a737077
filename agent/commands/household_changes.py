"""Putting the household right from the command line.

    child rename NAME NEW_NAME              child born NAME YYYY-MM-DD [--adult-ok]
    child remove NAME [--yes]
    rule list [NAME]                        rule remove NAME (--app ID | --category C | --domain D)
    schedule list [--child NAME]            schedule remove NAME --child NAME
    schedule edit NAME --child NAME [--name NEW] [--days ...] [--from HH:MM --to HH:MM | --all-day]
                  [--block-all | --block CAT_OR_APP,...] [--allow DOMAIN,...]
    resume NAME

Every change goes through `agent.store.household`.
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from agent.cli import CliError
from agent.commands import common
from agent.commands import household as base
from agent.commands.common import engine
from agent.config import Config
from agent.rules.household import Schedule
from agent.rules.schedule_words import schedule_words
from agent.store import household as store


def register_child(child: Any) -> None:
    p = child.add_parser("rename", help="give a child a new name")
    p.add_argument("name", metavar="NAME")
    p.add_argument("new_name", metavar="NEW_NAME")
    p.set_defaults(func=child_rename)
    p = child.add_parser("born", help="correct a child's date of birth")
    p.add_argument("name", metavar="NAME")
    p.add_argument("born", metavar="YYYY-MM-DD")
    p.add_argument(
        "--adult-ok", action="store_true", help="the date is right although it makes them 18+"
    )
    p.set_defaults(func=child_born)
    p = child.add_parser("remove", help="remove a child with their rules and schedules")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--yes", action="store_true", help="remove without asking again")
    p.set_defaults(func=child_remove)


def register_rules(rule: Any) -> None:
    p = rule.add_parser("list", help="list the house rules")
    p.add_argument("name", metavar="NAME", nargs="?", help="only this child's")
    p.set_defaults(func=rule_list)
    p = rule.add_parser("remove", help="remove a house rule")
    p.add_argument("name", metavar="NAME", help="the child's name")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--app", metavar="ID")
    what.add_argument("--category", metavar="CAT")
    what.add_argument("--domain", metavar="DOMAIN")
    p.set_defaults(func=rule_remove)


def register_schedules(schedule: Any, sub: Any) -> None:
    p = schedule.add_parser("list", help="list the schedules in words")
    p.add_argument("--child", metavar="NAME", help="only this child's")
    p.set_defaults(func=schedule_list)
    p = schedule.add_parser("remove", help="remove a schedule")
    p.add_argument("schedule", metavar="NAME", help="the schedule's name, e.g. Bedtime")
    p.add_argument("--child", required=True, metavar="NAME")
    p.set_defaults(func=schedule_remove)
    p = schedule.add_parser("edit", help="change a schedule; what you leave out stays")
    p.add_argument("schedule", metavar="NAME", help="the schedule's name, e.g. Bedtime")
    p.add_argument("--child", required=True, metavar="NAME")
    p.add_argument("--name", dest="new_name", metavar="NEW_NAME")
    p.add_argument("--days", metavar="mon,tue,...")
    p.add_argument("--from", dest="start", metavar="HH:MM")
    p.add_argument("--to", dest="end", metavar="HH:MM")
    p.add_argument("--all-day", action="store_true", help="the whole of each day chosen")
    block = p.add_mutually_exclusive_group()
    block.add_argument("--block-all", action="store_true")
    block.add_argument("--block", metavar="CAT_OR_APP,...")
    p.add_argument("--allow", metavar="DOMAIN,...", help="replaces the allowed sites ('' for none)")
    p.set_defaults(func=schedule_edit)

    p = sub.add_parser("resume", help="end a child's pause now")
    p.add_argument("name", metavar="NAME", help="the child's name")
    p.set_defaults(func=resume_child)


# --- children ---------------------------------------------------------------------------------


def child_rename(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    renamed = base.changing(store.update_child, eng, child.id, name=args.new_name)
    print(f"{child.name} is now called {renamed.name}.")
    return 0


def child_born(cfg: Config, args: argparse.Namespace) -> int:
    try:
        born = date.fromisoformat(args.born)
    except ValueError:
        raise CliError(f"{args.born!r} is not a date like 2014-05-30") from None
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    today = common.now(cfg).date()
    try:
        changed = store.update_child(eng, child.id, born=born, today=today, adult_ok=args.adult_ok)
    except store.NeedsConfirmation as exc:
        raise CliError(f"{exc}. If the date is right, add --adult-ok") from None
    except store.HouseholdError as exc:
        raise CliError(str(exc)) from None
    print(f"{changed.name}: born {born.isoformat()}, {changed.age_on(today)} years old.")
    return 0


def child_remove(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    if not args.yes:
        raise CliError(
            f"this removes {child.name} with their rules, schedules, pauses and requests; "
            "their devices become unassigned. Add --yes to go ahead"
        )
    removed = base.changing(store.remove_child, eng, child.id)
    print(
        f"Removed {removed.name}: {removed.rules} rule(s), {removed.schedules} schedule(s); "
        f"{removed.devices_unassigned} device(s) now unassigned."
    )
    return 0


def resume_child(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    if base.changing(store.resume, eng, child_id=child.id):
        print(f"{child.name}'s internet is back on.")
    else:
        print(f"{child.name} was not paused.")
    return 0


# --- rules ------------------------------------------------------------------------------------


def rule_list(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    names = {c.id: c.name for c in store.list_children(eng)}
    only = base.find_child(eng, args.name).id if args.name else None
    rules = store.list_rules(eng, only)
    if not rules:
        print("No house rules yet. Add one with: houserules rule allow|block NAME --app ID")
    for r in sorted(rules, key=lambda r: (names.get(r.child_id, ""), r.kind, r.value)):
        print(f"{names.get(r.child_id, '?'):<16} {r.verb:<6} {r.kind:<9} {r.value}")
    return 0


def rule_remove(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    kind = "app" if args.app else "category" if args.category else "domain"
    value = (args.app or args.category or args.domain).strip().lower().rstrip(".")
    found = [r for r in store.list_rules(eng, child.id) if (r.kind, r.value) == (kind, value)]
    if not found or found[0].id is None:
        raise CliError(f"{child.name} has no rule about {kind} {value}")
    base.changing(store.remove_rule, eng, found[0].id)
    print(f"Removed {child.name}'s rule: {found[0].verb} {kind} {value}.")
    return 0


# --- schedules --------------------------------------------------------------------------------


def schedule_list(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    children = store.list_children(eng)
    if args.child:
        children = (base.find_child(eng, args.child),)
    shown = 0
    for child in children:
        for s in store.list_schedules(eng, child.id):
            print(f"{child.name:<16} {s.name:<16} {describe(s)}")
            shown += 1
    if not shown:
        print("No schedules yet. Add one with: houserules schedule add NAME --child NAME ...")
    return 0


def describe(s: Schedule) -> str:
    what = "the internet off" if s.block_all else ", ".join(sorted(s.block)) + " off"
    allowed = f" (except {', '.join(s.allow)})" if s.allow else ""
    return f"{schedule_words(s)}: {what}{allowed}"


def find_schedule(cfg: Config, child_name: str, name: str) -> Schedule:
    eng = engine(cfg)
    child = base.find_child(eng, child_name)
    schedules = store.list_schedules(eng, child.id)
    for s in schedules:
        if s.name.lower() == " ".join(name.split()).lower():
            return s
    known = ", ".join(s.name for s in schedules) or "none yet"
    raise CliError(f"{child.name} has no schedule called {name!r} (schedules: {known})")


def schedule_remove(cfg: Config, args: argparse.Namespace) -> int:
    s = find_schedule(cfg, args.child, args.schedule)
    base.changing(store.remove_schedule, engine(cfg), s.id)
    print(f"Removed {s.name} ({describe(s)}).")
    return 0


def schedule_edit(cfg: Config, args: argparse.Namespace) -> int:
    s = find_schedule(cfg, args.child, args.schedule)
    all_day = args.all_day or (s.start == s.end and not (args.start or args.end))
    block_all, block = s.block_all, list(s.block)
    if args.block_all:
        block_all, block = True, []
    elif args.block:
        block_all, block = False, base.blocked_targets(cfg, args.block)
    changed = base.changing(
        store.update_schedule,
        engine(cfg),
        s.id,
        args.new_name or s.name,
        base.parse_days(args.days) if args.days else s.days,
        base.parse_time(args.start) if args.start else s.start,
        base.parse_time(args.end) if args.end else s.end,
        block_all=block_all,
        block=block,
        allow=base.split(args.allow) if args.allow is not None else s.allow,
        all_day=all_day,
    )
    print(f"{changed.name}: {describe(changed)}.")
    return 0
