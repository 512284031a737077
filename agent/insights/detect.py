"""Detectors: query-log rows (and what the job remembers) in, events out. No I/O, no clock.

Each event comes with a dedupe key, so seeing the same thing again (a retry, the next batch,
a second run) adds nothing. The rules, severities and keys:

event               when                                                  severity  one per
first_app           a child's first counted minute on a catalogue app     info (1)  child, app
first_site          a child's first counted minute on a site              info      child, site
random_video_chat   any query for a random-video-chat app, blocked or not alert     child, app, hour
age_blocked         >= 3 queries blocked by the app's age within 10 min   notice    child, app, day
bypass_suspected    encrypted DNS (bypass list) or VPN/proxy name queried alert     device, day
                    Firefox canary (Firefox asks it by itself)            notice    device, ISO week
                    iCloud Private Relay (on by default with iCloud+)     info      device, day
                    on the network but silent (`silent_devices`)          notice    device, silence
late_night          counted activity, blocked or not, in a night schedule notice    child, night
device_flood        the DNS refused a device over its rate limit          notice    flood
                    (the DNS logs one "flood" row when a flood begins)

(1) notice when the app has chat with strangers or video calls.

Video-chat sessions are in `agent.insights.sessions`. "Counted minute" and "counted activity"
follow the activity rule (`agent.insights.activity`), so a lone background lookup does not
make a first use or a late night. Events before `quiet_before` (history the box already had
when insights first ran) record state but announce no first uses or new devices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from agent.events import Event, EventKind, Severity
from agent.insights.things import Classifier
from agent.rules.catalog import App
from agent.rules.decision import RuleKind
from agent.rules.household import Household, Schedule
from agent.store.events import KeyedEvent
from agent.store.insight_state import LoggedRow

AGE_ATTEMPTS, AGE_WINDOW = 3, 600.0  # blocked queries, seconds
SILENT_AFTER = 60 * 60.0  # seconds without DNS while on the network
RISKY_FLAGS = frozenset({"chat_with_strangers", "video_chat"})
RANDOM_VIDEO_CHAT = "random-video-chat"
VPN_PROXY = "vpn-proxy"
BYPASS_CATEGORIES = frozenset({"bypass", VPN_PROXY})
NIGHT_STARTS, NIGHT_ENDS = time(18, 0), time(8, 0)


@dataclass(frozen=True)
class Context:
    household: Household
    classifier: Classifier
    tz: tzinfo
    unassigned: str = "youngest"  # the config's rules.unassigned
    quiet_before: float = 0.0
    flood_limit: int = 0  # the DNS's queries a minute per device ([dns] client_rate_limit)


def device_key(row: LoggedRow) -> str:
    """How the job names a device: its MAC when the box saw one, else its IP address."""
    return row.device or row.client


def _event(
    ts: float, kind: EventKind, severity: Severity, key: str, child: str | None = None,
    device: str | None = None, app: str | None = None, **details: Any,
) -> KeyedEvent:  # fmt: skip
    moment = datetime.fromtimestamp(ts, UTC)
    return KeyedEvent(Event(moment, kind, severity, child, device, app, details), key)


def _app_facts(app: App | None) -> dict[str, Any]:
    if app is None:
        return {}
    return {"app_name": app.name, "category": app.category, "flags": sorted(app.flags)}


def _day(ts: float, tz: tzinfo) -> date:
    return datetime.fromtimestamp(ts, tz).date()


# Per-row detectors -------------------------------------------------------------------------


def bypass(row: LoggedRow, ctx: Context) -> KeyedEvent | None:
    """A query that would get around the house rules (or Firefox asking whether it may)."""
    rule = row.ref
    if rule.kind is RuleKind.CANARY:
        signal, severity = "canary", Severity.NOTICE
    elif rule.kind is RuleKind.PRIVATE_RELAY:
        signal, severity = "private-relay", Severity.INFO
    elif rule.kind is RuleKind.PROTECTION or row.category in BYPASS_CATEGORIES:
        vpn = row.category == VPN_PROXY or (
            rule.kind is RuleKind.PROTECTION and rule.subject == VPN_PROXY
        )
        signal, severity = ("vpn-proxy" if vpn else "encrypted-dns"), Severity.ALERT
    else:
        return None
    child = row.child or _child_of_device(row, ctx)
    if child is None:
        return None  # an adult's device: their choice
    dev = device_key(row)
    local = datetime.fromtimestamp(row.ts, ctx.tz)
    if signal == "canary":
        iso = local.isocalendar()
        period = f"{iso.year}-W{iso.week:02d}"
    else:
        period = local.date().isoformat()
    return _event(
        row.ts, EventKind.BYPASS_SUSPECTED, severity, f"bypass:{signal}:{dev}:{period}",
        child, dev, row.app, signal=signal, name=row.name, blocked=row.action == "block",
    )  # fmt: skip


def device_flood(row: LoggedRow, ctx: Context) -> KeyedEvent | None:
    """A device went over the DNS rate limit: the DNS writes one row a flood, so one event."""
    if row.ref.kind is not RuleKind.FLOOD:
        return None
    dev = device_key(row)
    child = row.child or _child_of_device(row, ctx)
    return _event(
        row.ts, EventKind.DEVICE_FLOOD, Severity.NOTICE, f"flooded:{dev}:{int(row.ts)}",
        child, dev, ip=row.client, limit=ctx.flood_limit or None,
    )  # fmt: skip


def _child_of_device(row: LoggedRow, ctx: Context) -> str | None:
    # The canary is answered before the rules look up the device, so its row names no child.
    device = ctx.household.device_for(row.client, row.device)
    child, _adult = ctx.household.whose_rules(device, ctx.unassigned)
    return child.name if child is not None else None


def random_video_chat(row: LoggedRow, app_id: str | None, ctx: Context) -> KeyedEvent | None:
    """Any query for a random-video-chat app or site: an attempt is what a parent needs."""
    if row.child is None:
        return None
    category = row.category  # the rules engine's, from the app when it matched one
    if category is None and app_id:
        found = ctx.classifier.app(app_id)
        category = found.category if found is not None else None
    if category != RANDOM_VIDEO_CHAT:
        return None
    app = ctx.classifier.app(app_id)
    what = app_id or row.name
    hour = datetime.fromtimestamp(row.ts, ctx.tz).strftime("%Y-%m-%dT%H")
    return _event(
        row.ts, EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT,
        f"random_video_chat:{row.child}:{what}:{hour}", row.child, device_key(row), app_id,
        name=row.name, blocked=row.action == "block", rule=row.rule,
        **({"category": RANDOM_VIDEO_CHAT} | _app_facts(app)),
    )  # fmt: skip


def age_blocked(
    row: LoggedRow, app_id: str | None, attempts: dict[tuple[str, str], list[float]], ctx: Context
) -> KeyedEvent | None:
    """Repeated queries blocked by an app's minimum age: the child may be keen on that app.

    `attempts` holds each (child, app)'s recent attempt times and is updated in place."""
    if row.action != "block" or row.child is None or not app_id:
        return None
    if not row.ref.kind.by_age:
        return None
    key = (row.child, app_id)
    recent = [t for t in attempts.get(key, ()) if 0 <= row.ts - t <= AGE_WINDOW] + [row.ts]
    attempts[key] = recent[-(AGE_ATTEMPTS - 1) :]
    if len(recent) < AGE_ATTEMPTS:
        return None
    app = ctx.classifier.app(app_id)
    first = recent[-AGE_ATTEMPTS]
    age = _age(row.child, row.ts, ctx)
    return _event(
        first, EventKind.AGE_BLOCKED, Severity.NOTICE,
        f"age_blocked:{row.child}:{app_id}:{_day(first, ctx.tz).isoformat()}",
        row.child, device_key(row), app_id, rule=row.rule, attempts=AGE_ATTEMPTS,
        window_minutes=int(AGE_WINDOW // 60), age=age,
        minimum_age=app.minimum_age if app is not None else None, **_app_facts(app),
    )  # fmt: skip


def _age(child_name: str, ts: float, ctx: Context) -> int | None:
    child = ctx.household.child_by_name.get(child_name.lower())
    return child.age_on(_day(ts, ctx.tz)) if child is not None else None


# Detectors over what the activity rule counted ---------------------------------------------


def first_use(
    child: str, device: str | None, kind: str, name: str, minute: int, ctx: Context
) -> KeyedEvent | None:
    """A child's first counted minute on an app or a site (on `device`)."""
    ts = minute * 60.0
    if ts < ctx.quiet_before:
        return None
    if kind == "site":
        return _event(
            ts, EventKind.FIRST_SITE, Severity.INFO, f"first_site:{child}:{name}", child, device,
            site=name,
        )  # fmt: skip
    app = ctx.classifier.app(name)
    risky = app is not None and bool(app.flags & RISKY_FLAGS)
    severity = Severity.NOTICE if risky else Severity.INFO
    return _event(
        ts, EventKind.FIRST_APP, severity, f"first_app:{child}:{name}", child, device, name,
        **_app_facts(app),
    )  # fmt: skip


def night_window(child: str, moment: datetime, ctx: Context) -> Schedule | None:
    """The child's night schedule (block everything, in the evening or overnight) that is on
    at `moment` (local), if any."""
    found = ctx.household.child_by_name.get(child.lower())
    if found is None:
        return None
    weekday, at = moment.weekday(), moment.time().replace(tzinfo=None)
    for s in ctx.household.rules_for(found.id).schedules:
        overnight = s.end <= s.start or s.start >= NIGHT_STARTS or s.end <= NIGHT_ENDS
        if s.block_all and overnight and s.covers(weekday, at):
            return s
    return None


def late_night(
    child: str, device: str | None, minutes: Iterable[int], thing: str, blocked: bool, ctx: Context
) -> list[KeyedEvent]:
    """Counted activity inside a night schedule: one notice per child per night (the night
    of 20 November runs into the morning of the 21st)."""
    out: dict[str, KeyedEvent] = {}
    for minute in sorted(minutes):
        moment = datetime.fromtimestamp(minute * 60, ctx.tz)
        schedule = night_window(child, moment, ctx)
        if schedule is None:
            continue
        night = (moment - timedelta(hours=12)).date().isoformat()
        if night in out:
            continue
        window = f"{schedule.start:%H:%M}-{schedule.end:%H:%M}"
        app_id = thing.removeprefix("app:") if thing.startswith("app:") else None
        out[night] = _event(
            minute * 60.0, EventKind.LATE_NIGHT, Severity.NOTICE, f"late_night:{child}:{night}",
            child, device, app_id, schedule=schedule.name, window=window, night=night, on=thing,
            blocked=blocked, **_app_facts(ctx.classifier.app(app_id)),
        )  # fmt: skip
    return list(out.values())


def silent_devices(
    household: Household,
    neighbours: Mapping[str, str],
    last_dns: Mapping[str, float],
    now_ts: float,
    tz: tzinfo,
    silent_after: float = SILENT_AFTER,
) -> list[KeyedEvent]:
    """Children's devices on the network (in the neighbour table) that have used the box before
    but sent it no DNS for `silent_after` seconds: they may be using another resolver (a VPN,
    a private DNS setting). A notice, once per silence; an idle phone can be quiet too."""
    present_macs = {m.lower() for m in neighbours.values()}
    out = []
    for device in household.devices:
        child = household.device_child.get(device.id)
        if child is None:
            continue
        here = (device.mac in present_macs) if device.mac else (device.ip in neighbours)
        keys = [k for k in (device.mac, device.ip) if k]
        last = max((last_dns[k] for k in keys if k in last_dns), default=None)
        if not here or last is None or now_ts - last < silent_after:
            continue
        dev = device.mac or device.ip or ""
        out.append(
            _event(
                last + silent_after, EventKind.BYPASS_SUSPECTED, Severity.NOTICE,
                f"bypass:silent:{dev}:{int(last)}", child.name, dev, signal="silent",
                last_dns=datetime.fromtimestamp(last, tz).isoformat(),
                silent_minutes=int((now_ts - last) // 60), device_name=device.label,
            )
        )  # fmt: skip
    return out
