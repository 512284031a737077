"""`houserules child|device|rule|schedule|pause|explain`: the household from the command line.

    child add NAME --born YYYY-MM-DD        child list
    device add (--ip IP | --mac MAC) [--name NAME] (--child NAME | --adult | --shared) [--inspect]
               [--move]
    device list                             device merge KEEP_ID DROP_ID
    device confirm ID [--mac MAC] | --not   device remove ID
    rule allow|block NAME (--app ID | --category CAT | --domain DOMAIN)
    schedule add NAME --child NAME --days mon,tue,... (--from HH:MM --to HH:MM | --all-day)
                 (--block-all | --block CAT_OR_APP,...) [--allow DOMAIN,...]
    pause NAME --minutes N
    (rename, correct, remove and list: `household_changes`)
    explain NAME_OR_DOMAIN --client IP

Every change goes through `agent.store.household`. `explain` is its own command module,
`household_explain`; both take the box's time and the catalogue from `common`.
"""

from __future__ import annotations

import argparse
import re
from datetime import date, time, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from agent.cli import CliError
from agent.commands import common
from agent.commands.common import engine, zone
from agent.config import Config
from agent.rules.catalog import CATEGORIES, Catalog
from agent.rules.household import WEEKDAYS, Child
from agent.store import household as store

DAY_WORDS = {"weekdays": range(5), "weekends": range(5, 7), "daily": range(7)}
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MAX_PAUSE_MINUTES = 7 * 24 * 60


def register(sub: Any) -> None:
    child = _group(sub, "child", "the children in the household")
    p = child.add_parser("add", help="add a child")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--born", required=True, metavar="YYYY-MM-DD", help="date of birth")
    p.set_defaults(func=child_add)
    child.add_parser("list", help="list the children").set_defaults(func=child_list)
    from agent.commands import household_changes as changes

    changes.register_child(child)

    device = _group(sub, "device", "the devices in the home and whose they are")
    p = device.add_parser("add", help="add a device, or claim one the box has seen")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--ip", metavar="IP")
    where.add_argument("--mac", metavar="MAC")
    p.add_argument("--name", metavar="NAME", help="what the family calls it")
    whose = p.add_mutually_exclusive_group(required=True)
    whose.add_argument("--child", metavar="NAME", help="the child it belongs to")
    whose.add_argument("--adult", action="store_true", help="an adult's device")
    whose.add_argument("--shared", action="store_true", help="shared: the youngest's rules")
    p.add_argument("--inspect", action="store_true", help="send it through the proxy addon")
    p.add_argument(
        "--move", action="store_true", help="the address belongs to another device: move it"
    )
    p.set_defaults(func=device_add)
    device.add_parser("list", help="list devices").set_defaults(func=device_list)
    p = device.add_parser("merge", help="one device seen under two addresses: keep the first")
    p.add_argument("keep", type=int, metavar="KEEP_ID")
    p.add_argument("drop", type=int, metavar="DROP_ID")
    p.set_defaults(func=device_merge)
    p = device.add_parser(
        "confirm", help="say the Wi-Fi (MAC) address seen at a device known by IP is that device's"
    )
    p.add_argument("id", type=int, metavar="ID")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--mac", metavar="MAC", help="this MAC rather than the one waiting")
    which.add_argument("--not", dest="reject", action="store_true", help="it is not: forget it")
    p.set_defaults(func=device_confirm)
    p = device.add_parser("remove", help="forget a device (it comes back unassigned if it asks)")
    p.add_argument("id", type=int, metavar="ID")
    p.set_defaults(func=device_remove)

    _register_rules(sub)


def _register_rules(sub: Any) -> None:
    from agent.commands import household_changes as changes

    rule = _group(sub, "rule", "allow or block an app, category or domain for a child")
    for verb in ("allow", "block"):
        p = rule.add_parser(verb, help=f"{verb} an app, category or domain for a child")
        p.set_defaults(verb=verb, func=rule_add)
        p.add_argument("name", metavar="NAME", help="the child's name")
        what = p.add_mutually_exclusive_group(required=True)
        what.add_argument("--app", metavar="ID", help="an app id from the catalogue, e.g. roblox")
        what.add_argument("--category", metavar="CAT", help="e.g. gaming, social, gambling")
        what.add_argument("--domain", metavar="DOMAIN", help="a domain and everything below it")
    changes.register_rules(rule)

    schedule = _group(sub, "schedule", "times when the internet or some apps are off")
    p = schedule.add_parser("add", help="add a weekly schedule for a child")
    p.add_argument("name", metavar="NAME", help="e.g. Bedtime")
    p.add_argument("--child", required=True, metavar="NAME")
    p.add_argument("--days", required=True, metavar="mon,tue,...", help="or weekdays, daily")
    p.add_argument("--from", dest="start", metavar="HH:MM")
    p.add_argument("--to", dest="end", metavar="HH:MM", help="may be after midnight")
    p.add_argument("--all-day", action="store_true", help="the whole of each day chosen")
    block = p.add_mutually_exclusive_group(required=True)
    block.add_argument("--block-all", action="store_true", help="the whole internet")
    block.add_argument("--block", metavar="CAT_OR_APP,...", help="categories or app ids")
    p.add_argument("--allow", metavar="DOMAIN,...", help="still allowed, e.g. homework sites")
    p.set_defaults(func=schedule_add)

    p = sub.add_parser("pause", help="pause the internet for a child")
    p.add_argument("name", metavar="NAME", help="the child's name")
    p.add_argument("--minutes", required=True, type=int, metavar="N")
    p.set_defaults(func=pause_child)
    changes.register_schedules(schedule, sub)


def _group(sub: Any, name: str, help_text: str) -> Any:
    parser = sub.add_parser(name, help=help_text)
    return parser.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


# --- shared helpers ---------------------------------------------------------------------------


def find_child(eng: Engine, name: str) -> Child:
    child = store.get_child_by_name(eng, name)
    if child is None:
        known = ", ".join(c.name for c in store.list_children(eng)) or "none yet"
        raise CliError(f"there is no child called {name!r} (children: {known})")
    return child


def known_categories(cfg: Config, cat: Catalog) -> frozenset[str]:
    lists = {s.category for s in cfg.blocklists.sources}
    return frozenset({*CATEGORIES, *cat.categories, *lists, *cfg.rules.always_block})


def check_target(cfg: Config, cat: Catalog, kind: str, value: str) -> str:
    value = value.strip().lower()
    if kind == "app" and cat.get(value) is None:
        raise CliError(f"there is no app {value!r} in the catalogue (ids look like tiktok, roblox)")
    if kind == "category" and value not in known_categories(cfg, cat):
        known = ", ".join(sorted(known_categories(cfg, cat)))
        raise CliError(f"there is no category {value!r} (known: {known})")
    return value


def changing(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a store change, turning a parent's mistake into a one-line CliError."""
    try:
        return fn(*args, **kwargs)
    except store.HouseholdError as exc:
        raise CliError(str(exc)) from None


# --- children and devices ---------------------------------------------------------------------


def child_add(cfg: Config, args: argparse.Namespace) -> int:
    try:
        born = date.fromisoformat(args.born)
    except ValueError:
        raise CliError(f"--born {args.born!r} is not a date like 2014-05-30") from None
    child = changing(store.add_child, engine(cfg), args.name, born, today=common.now(cfg).date())
    print(f"Added {child.name}, {child.age_on(common.now(cfg).date())} years old.")
    return 0


def child_list(cfg: Config, args: argparse.Namespace) -> int:
    children = store.list_children(engine(cfg))
    if not children:
        print("No children yet. Add one with: houserules child add NAME --born YYYY-MM-DD")
    today = common.now(cfg).date()
    for c in children:
        notes = [] if c.settings.protections_on else ["bypass protection off"]
        notes += [] if c.settings.safe_search else ["safe search off"]
        notes += [f"YouTube {c.settings.youtube_level}"] if c.settings.youtube_level else []
        extra = f"  ({', '.join(notes)})" if notes else ""
        print(f"{c.name:<16} born {c.born.isoformat()}  age {c.age_on(today)}{extra}")
    return 0


def device_add(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    owner, child_id = "adult" if args.adult else "shared" if args.shared else "child", None
    if args.child:
        child_id = find_child(eng, args.child).id
    try:
        device = store.add_device(
            eng,
            mac=args.mac,
            ip=args.ip,
            name=args.name,
            owner=owner,
            child_id=child_id,
            inspect=args.inspect,
            move=args.move,
        )
    except store.AddressTaken as exc:
        taken = exc.device
        raise CliError(
            f"{exc.address} already belongs to {taken.label} (device {taken.id}, "
            f"{_whose(taken, eng)}); nothing changed. To move it, run the same command with --move"
        ) from None
    except store.HouseholdError as exc:
        raise CliError(str(exc)) from None
    print(f"Device {device.id} ({device.label}) is {_whose(device, eng)}.")
    if device.ip_only and device.owner == "adult":
        print(IP_ONLY_WARNING)
    return 0


IP_ONLY_WARNING = (
    "Known by its IP address only: anything on the network can take an IP address. When the "
    "box sees its Wi-Fi (MAC) address, confirm it with: houserules device confirm ID"
)


def device_list(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    devices = store.list_devices(eng)
    if not devices:
        print("No devices yet. The box lists devices as it sees them, or use: device add")
    for d in devices:
        seen = d.last_seen.astimezone(zone(cfg)).strftime("%Y-%m-%d %H:%M") if d.last_seen else "-"
        print(
            f"{d.id:>4}  {d.name or '-':<20} {d.mac or '-':<17} {d.ip or '-':<15} "
            f"{_whose(d, eng):<28} last seen {seen}"
        )
        if d.pending_mac:
            print(f"      {d.pending_mac} was seen at its address: is it this device? "
                  f"houserules device confirm {d.id} (or --not)")  # fmt: skip
        elif d.ip_only and d.owner == "adult":
            print("      known by IP only: anything on the network can take an IP address")
    return 0


def device_confirm(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    if args.reject:
        device = changing(store.forget_pending_mac, eng, args.id)
        print(f"Forgotten. {device.label} stays known by its IP address until you confirm one.")
        return 0
    device = changing(store.confirm_mac, eng, args.id, args.mac)
    print(f"Device {device.id} ({device.label}) is now known by {device.mac}, wherever it goes.")
    return 0


def device_remove(cfg: Config, args: argparse.Namespace) -> int:
    device = changing(store.remove_device, engine(cfg), args.id)
    print(f"Removed device {device.id} ({device.label}).")
    return 0


def _whose(device: Any, eng: Engine) -> str:
    if device.owner == "child":
        kids = {c.id: c.name for c in store.list_children(eng)}
        return f"{kids.get(device.child_id, 'a removed child')}'s"
    return {"adult": "an adult's", "shared": "shared"}.get(device.owner, "not assigned yet")


def device_merge(cfg: Config, args: argparse.Namespace) -> int:
    device = changing(store.merge_devices, engine(cfg), args.keep, args.drop)
    print(f"Merged device {args.drop} into {device.id} ({device.label}).")
    return 0


# --- rules, schedules, pauses -----------------------------------------------------------------


def rule_add(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = find_child(eng, args.name)
    kind = "app" if args.app else "category" if args.category else "domain"
    value = args.app or args.category or args.domain
    if kind != "domain":
        value = check_target(cfg, common.catalog(), kind, value)
    if args.verb == "allow" and value in (*cfg.rules.always_block, "bypass", "vpn-proxy"):
        raise CliError(f"{value} stays blocked whatever the rules say, so it cannot be allowed")
    rule = changing(store.add_rule, eng, child.id, args.verb, kind, value)
    print(f"{rule.verb.capitalize()}ed for {child.name}: {rule.kind} {rule.value}.")
    return 0


def schedule_add(cfg: Config, args: argparse.Namespace) -> int:
    eng = engine(cfg)
    child = find_child(eng, args.child)
    if not args.all_day and not (args.start and args.end):
        raise CliError("give --from HH:MM and --to HH:MM, or --all-day")
    days = parse_days(args.days)
    start = parse_time(args.start) if args.start else time(0)
    end = parse_time(args.end) if args.end else time(0)
    schedule = changing(
        store.add_schedule,
        eng,
        child.id,
        args.name,
        days,
        start,
        end,
        block_all=args.block_all,
        block=blocked_targets(cfg, args.block) if args.block else [],
        allow=split(args.allow or ""),
        all_day=args.all_day,
    )
    from agent.commands.household_changes import describe

    print(f"{schedule.name} for {child.name}: {describe(schedule)}.")
    return 0


def blocked_targets(cfg: Config, text: str) -> list[str]:
    """Categories and app ids from "gaming,tiktok", each checked."""
    cat = common.catalog()
    blocked = []
    for item in split(text):
        kind = "app" if cat.get(item.lower()) is not None else "category"
        blocked.append(check_target(cfg, cat, kind, item))
    return blocked


def pause_child(cfg: Config, args: argparse.Namespace) -> int:
    if not 0 < args.minutes <= MAX_PAUSE_MINUTES:
        raise CliError(f"--minutes must be from 1 to {MAX_PAUSE_MINUTES} (a week)")
    eng = engine(cfg)
    child = find_child(eng, args.name)
    until = common.now(cfg) + timedelta(minutes=args.minutes)
    changing(store.pause, eng, until, child_id=child.id)
    print(f"{child.name}'s internet is paused until {until:%H:%M}.")
    return 0


def parse_days(text: str) -> set[int]:
    days: set[int] = set()
    for word in split(text.lower()):
        if word in DAY_WORDS:
            days.update(DAY_WORDS[word])
        elif word[:3] in WEEKDAYS:
            days.add(WEEKDAYS.index(word[:3]))
        else:
            raise CliError(f"--days: {word!r} is not a day (use mon,tue,... or weekdays, daily)")
    return days


def parse_time(text: str) -> time:
    match = _TIME.match(text.strip())
    if match is None:
        raise CliError(f"{text!r} is not a time like 07:30 or 21:00")
    return time(int(match[1]), int(match[2]))


def split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
