"""Daily time budgets, extra time and rewards from the command line.

    budget set NAME (--app ID | --category C | --all) --school MIN --weekend MIN
               [--day mon=MIN ...] [--reset-hour H]
    budget list [NAME]                       budget remove ID
    more-time NAME --minutes N [--app ID | --category C | --all] | --no-limit-today
    allow NAME (--app ID | --domain D | --schedule NAME) --until HH:MM

Budgets and their minutes are `agent.store.budgets`; extra time and rewards are overlays with
an end (`agent.store.overlays`), never changes to the house rules.
"""

from __future__ import annotations

import argparse
from datetime import datetime, time
from typing import Any

from agent.cli import CliError
from agent.commands import common
from agent.commands import household as base
from agent.commands.common import engine
from agent.commands.household_changes import find_schedule
from agent.config import Config
from agent.rules import budgets as rules
from agent.rules.catalog import CATEGORIES
from agent.rules.household import WEEKDAYS, Budget
from agent.rules.overlays import next_at
from agent.store import budgets as store
from agent.store import overlays


def register(sub: Any) -> None:
    budget = sub.add_parser("budget", help="daily time budgets").add_subparsers(
        dest="budget_command", metavar="ACTION", required=True
    )
    p = budget.add_parser("set", help="set a child's daily budget for an app, category or all")
    p.add_argument("name", metavar="NAME", help="the child's name")
    _target(p, domain=False)
    p.add_argument("--school", type=int, required=True, metavar="MIN", help="minutes, Mon-Fri")
    p.add_argument("--weekend", type=int, required=True, metavar="MIN", help="minutes, Sat-Sun")
    p.add_argument("--day", action="append", default=[], metavar="DAY=MIN", help="e.g. wed=30")
    p.add_argument("--reset-hour", type=int, default=rules.DEFAULT_RESET_HOUR, metavar="H")
    p.set_defaults(func=budget_set)
    p = budget.add_parser("list", help="today's budgets: used and allowed")
    p.add_argument("name", nargs="?", metavar="NAME")
    p.set_defaults(func=budget_list)
    p = budget.add_parser("remove", help="remove a budget (its id from `budget list`)")
    p.add_argument("id", type=int)
    p.set_defaults(func=budget_remove)

    p = sub.add_parser("more-time", help="more minutes on today's budget")
    p.add_argument("name", metavar="NAME", help="the child's name")
    p.add_argument("--minutes", type=int, metavar="N")
    p.add_argument("--no-limit-today", action="store_true")
    _target(p, domain=False, required=False)
    p.set_defaults(func=more_time)

    p = sub.add_parser("allow", help="a reward: allow an app, category or site until a time")
    p.add_argument("name", metavar="NAME", help="the child's name")
    group = _target(p, domain=True, every=False)
    group.add_argument("--schedule", metavar="NAME", help="push a schedule (bedtime) later")
    p.add_argument("--until", required=True, metavar="HH:MM")
    p.set_defaults(func=allow_until)


def _target(p: Any, domain: bool, required: bool = True, every: bool = True) -> Any:
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--app", metavar="ID")
    group.add_argument("--category", metavar="CATEGORY")
    if every:
        group.add_argument("--all", action="store_true", help="all online time")
    if domain:
        group.add_argument("--domain", metavar="DOMAIN")
    return group


def _kind(args: argparse.Namespace) -> tuple[str, str] | None:
    if getattr(args, "all", False):
        return "all", ""
    for kind in ("app", "category", "domain"):
        value = getattr(args, kind, None)
        if value:
            return kind, value
    return None


def title(budget: Budget, app_names: dict[str, str]) -> str:
    if budget.kind == "all":
        return "Online time"
    if budget.kind == "app":
        return app_names.get(budget.target, budget.target)
    return budget.target.replace("-", " ").capitalize()


def budget_set(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    per_day = {}
    for item in args.day:
        day, _, minutes = item.partition("=")
        if day.lower()[:3] not in WEEKDAYS or not minutes.isdigit():
            raise CliError(f"{item!r} is not like wed=30")
        per_day[WEEKDAYS.index(day.lower()[:3])] = int(minutes)
    try:
        days = rules.week_of(args.school, args.weekend, per_day)
    except rules.BudgetError as exc:
        raise CliError(str(exc)) from None
    kind, target = _kind(args) or ("all", "")
    budget = base.changing(store.set_budget, eng, child.id, kind, target, days, args.reset_hour)
    print(f"{child.name}: {_line(budget, common.now(cfg), {})}")
    return 0


def _line(budget: Budget, now: datetime, app_names: dict[str, str]) -> str:
    found = rules.state(budget, [], now)
    days = ", ".join(f"{d} {m}" for d, m in zip(WEEKDAYS, budget.days, strict=True))
    return (
        f"[{budget.id}] {title(budget, app_names)}: {found.used} of {found.allowed} minutes "
        f"used today ({days}; the day starts at {budget.reset_hour:02d}:00)"
    )


def budget_list(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = base.find_child(eng, args.name) if args.name else None
    found = store.list_budgets(eng, child.id if child else None)
    if not found:
        print("No daily budgets.")
        return 0
    now = common.now(cfg)
    running = overlays.list_overlays(eng, running_at=now)
    for b in found:
        s = rules.state(b, [o for o in running if o.child_id == b.child_id], now)
        left = rules.left_words(s.left)
        print(f"{_line(b, now, {})}; {left}")
    return 0


def budget_remove(cfg: Config, args: argparse.Namespace) -> int:
    base.changing(store.remove_budget, engine(cfg), args.id)
    print(f"Budget {args.id} removed.")
    return 0


def more_time(cfg: Config, args: argparse.Namespace) -> int:
    if args.minutes is None and not args.no_limit_today:
        raise CliError("say --minutes N or --no-limit-today")
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    mine = store.list_budgets(eng, child.id)
    wanted = _kind(args)
    if wanted is not None:
        mine = [b for b in mine if (b.kind, b.target) == (wanted[0], wanted[1].lower())]
    if not mine:
        raise CliError(f"{child.name} has no daily budget like that")
    now = common.now(cfg)
    minutes = None if args.no_limit_today else args.minutes
    for b in mine:
        base.changing(store.add_extra_time, eng, b, minutes, now)
    what = "no limit today" if minutes is None else f"{minutes} more minutes today"
    print(f"{child.name}: {what} ({', '.join(title(b, {}) for b in mine)}).")
    return 0


def allow_until(cfg: Config, args: argparse.Namespace) -> int:
    try:
        end = time.fromisoformat(args.until)
    except ValueError:
        raise CliError(f"{args.until!r} is not a time like 18:00") from None
    eng = engine(cfg)
    child = base.find_child(eng, args.name)
    now = common.now(cfg)
    until = next_at(end, now)
    if args.schedule:
        s = find_schedule(cfg, args.name, args.schedule)
        base.changing(
            overlays.add_overlay, eng, child.id, "more_time", until, now, schedule_id=s.id
        )
        print(f"{child.name}: {s.name} is off until {until:%a %H:%M}.")
        return 0
    kind, target = _kind(args) or ("app", "")
    known = {*CATEGORIES, *(s.category for s in cfg.blocklists.sources)}
    if kind == "category" and target.strip().lower() not in known:
        kinds = ", ".join(sorted(known))
        raise CliError(f"{target!r} is not a kind of app HouseRules knows ({kinds})")
    overlay = base.changing(
        overlays.add_overlay, eng, child.id, "unblock", until, now, target_kind=kind, target=target
    )
    print(f"{child.name}: {overlay.target} is allowed until {until:%a %H:%M}.")
    return 0
