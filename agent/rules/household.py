"""The household as an immutable snapshot: children, their devices and their house rules.

`agent.store.household.load_household` builds one from the database; the DNS process swaps a
new snapshot in whole when the household's version changes. Everything `agent.rules.decide`
needs per query is precomputed here once (maps by MAC and IP, each child's allow and block sets,
schedules and pauses), so a decision is a handful of dict and set lookups.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from types import MappingProxyType
from typing import Literal

Owner = Literal["child", "adult", "shared", "unassigned"]
OWNERS: tuple[str, ...] = ("child", "adult", "shared", "unassigned")
YOUTUBE_LEVELS: tuple[str, ...] = ("strict", "moderate", "off")
VERBS: tuple[str, ...] = ("allow", "block")
KINDS: tuple[str, ...] = ("app", "category", "domain")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class ChildSettings:
    protections_on: bool = True  # VPN, proxy, private DNS and Private Relay blocked
    youtube_level: str | None = None  # "strict" | "moderate" | "off"; None = by age
    safe_search: bool = True


@dataclass(frozen=True, slots=True)
class Child:
    id: int
    name: str
    born: date
    settings: ChildSettings = ChildSettings()

    def age_on(self, day: date) -> int:
        """Whole years on `day`. Someone born on 29 Feb turns a year older on 1 Mar in
        non-leap years (as in UK law): (2, 28) is still before (2, 29)."""
        years = day.year - self.born.year
        if (day.month, day.day) < (self.born.month, self.born.day):
            years -= 1
        return years


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    mac: str | None = None  # lower-case, colon-separated
    ip: str | None = None  # the address it was last seen at
    name: str | None = None
    owner: str = "unassigned"  # one of OWNERS
    child_id: int | None = None  # when owner == "child"
    shared_with: frozenset[int] = frozenset()  # child ids, when owner == "shared"
    inspect: bool = False
    first_seen: datetime | None = None  # UTC; may lag in a snapshot (not a household change)
    last_seen: datetime | None = None
    # A MAC seen at this device's IP while it is known by IP only, waiting for a parent to say
    # it is this device: until then the device is matched by IP, and a different MAC at that
    # IP is a newcomer (unknown-device rules), never this device.
    pending_mac: str | None = None
    hostname: str | None = None  # what the device calls itself (DHCP, mDNS): a hint only
    reserved_ip: str | None = None  # always handed this address by HouseRules' DHCP

    @property
    def label(self) -> str:
        return self.name or self.mac or self.ip or f"device {self.id}"

    @property
    def ip_only(self) -> bool:
        """Known by IP address only: anything on the network could take that address."""
        return self.mac is None


@dataclass(frozen=True, slots=True)
class Schedule:
    """A weekly window. `end <= start` crosses midnight: the part after midnight belongs to
    the next day, so a Mon 21:00-07:00 window covers Mon 21:00 until Tue 07:00."""

    id: int
    name: str
    child_id: int
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time
    block_all: bool = False
    block: frozenset[str] = frozenset()  # category names or app ids
    allow: tuple[str, ...] = ()  # domains (suffix match) that pass this schedule
    allow_set: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_set", frozenset(self.allow))

    def covers(self, weekday: int, at: time) -> bool:
        """Whether the window is on at `at` (a naive local time) on `weekday`."""
        if self.start < self.end:
            return weekday in self.days and self.start <= at < self.end
        return (weekday in self.days and at >= self.start) or (
            (weekday - 1) % 7 in self.days and at < self.end
        )


@dataclass(frozen=True, slots=True)
class RuleEntry:
    child_id: int
    verb: str  # "allow" | "block"
    kind: str  # "app" | "category" | "domain"
    value: str
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    until: datetime  # timezone-aware
    child_id: int | None = None
    device_id: int | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Overlay:
    """A temporary change on top of a child's rules, until `until`: "more_time" holds one
    schedule off; "unblock" allows an app or a domain (suffix match). It never edits the rules:
    `decide()` reads it while `now < until`, and after that it is just an old row."""

    id: int
    child_id: int
    kind: str  # one of OVERLAY_KINDS
    until: datetime  # timezone-aware
    schedule_id: int | None = None  # more_time: the schedule held off
    target_kind: str | None = None  # unblock: "app" | "domain"
    target: str | None = None  # unblock: an app id or a domain
    request_id: int | None = None  # the child's request it answers, if any
    created: datetime | None = None
    minutes: int | None = None  # extra_time: minutes added to a budget; None = no limit today

    def active(self, now: datetime) -> bool:
        return now < self.until


OVERLAY_KINDS: tuple[str, ...] = ("more_time", "unblock", "extra_time")
BUDGET_KINDS: tuple[str, ...] = ("app", "category", "all")


@dataclass(frozen=True, slots=True)
class Budget:
    """A child's daily allowance for an app, a category or all online time, in minutes.

    `days` holds the minutes for Monday..Sunday (school days and weekends, or per weekday);
    the day runs from `reset_hour` to `reset_hour` the next day. `used` and `used_day` are the
    minutes the insights job counted on that (budget) day, as the snapshot last saw them."""

    id: int
    child_id: int
    kind: str  # one of BUDGET_KINDS
    target: str  # an app id, a category, or "" for all online time
    days: tuple[int, ...]  # minutes allowed, Monday first
    reset_hour: int = 4
    used: int = 0
    used_day: date | None = None


@dataclass(frozen=True, slots=True)
class ChildRules:
    """One child's rules, as sets ready for `decide()`."""

    allow_apps: frozenset[str] = frozenset()
    allow_categories: frozenset[str] = frozenset()
    allow_domains: frozenset[str] = frozenset()
    block_apps: frozenset[str] = frozenset()
    block_categories: frozenset[str] = frozenset()
    block_domains: frozenset[str] = frozenset()
    schedules: tuple[Schedule, ...] = ()
    paused_until: datetime | None = None
    overlays: tuple[Overlay, ...] = ()  # active or not: decide() compares their times
    budgets: tuple[Budget, ...] = ()


NO_RULES = ChildRules()


@dataclass(frozen=True)
class Household:
    children: tuple[Child, ...] = ()
    devices: tuple[Device, ...] = ()
    rules: tuple[RuleEntry, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    pauses: tuple[Pause, ...] = ()
    overlays: tuple[Overlay, ...] = ()
    budgets: tuple[Budget, ...] = ()
    version: int = 0
    # Derived once in __post_init__; read-only views.
    child_by_id: Mapping[int, Child] = field(init=False, repr=False, compare=False)
    child_by_name: Mapping[str, Child] = field(init=False, repr=False, compare=False)
    device_by_id: Mapping[int, Device] = field(init=False, repr=False, compare=False)
    device_by_ip: Mapping[str, Device] = field(init=False, repr=False, compare=False)
    device_by_mac: Mapping[str, Device] = field(init=False, repr=False, compare=False)
    youngest: Child | None = field(init=False, repr=False, compare=False)
    # device id -> the child whose rules apply, or None for an adult's device. Unassigned
    # devices (and child devices whose child is gone) are absent.
    device_child: Mapping[int, Child | None] = field(init=False, repr=False, compare=False)
    child_rules: Mapping[int, ChildRules] = field(init=False, repr=False, compare=False)
    device_paused_until: Mapping[int, datetime] = field(init=False, repr=False, compare=False)
    # Every moment a temporary change (a pause, an overlay) ends, sorted: answers given to a
    # child before one of them must not be cached by devices beyond it (`ends_after`).
    ends: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    # child name -> the app ids and categories a budget counts ("" for all online time):
    # answers for these are kept short by devices, so a used-up budget takes hold quickly.
    budgeted: Mapping[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "child_by_id", MappingProxyType({c.id: c for c in self.children}))
        put(self, "child_by_name", MappingProxyType({c.name.lower(): c for c in self.children}))
        put(self, "device_by_id", MappingProxyType({d.id: d for d in self.devices}))
        put(self, "device_by_mac", MappingProxyType({d.mac: d for d in self.devices if d.mac}))
        # If two devices claim one IP (a stale address), the one seen last has it now.
        by_recency = sorted(self.devices, key=_seen_at)
        put(self, "device_by_ip", MappingProxyType({d.ip: d for d in by_recency if d.ip}))
        put(self, "youngest", _youngest(self.children))
        put(self, "device_child", MappingProxyType(self._device_children()))
        put(self, "child_rules", MappingProxyType(self._child_rules()))
        put(self, "device_paused_until", MappingProxyType(_latest(self.pauses, "device_id")))
        put(self, "ends", tuple(sorted({*(p.until for p in self.pauses), *self._overlay_ends()})))
        put(self, "budgeted", MappingProxyType(self._budgeted()))

    def device_for(self, ip: str | None, mac: str | None) -> Device | None:
        """The device behind a query: by MAC first (the neighbour table), then by IP. An IP
        match is ignored when both sides know a MAC and they differ: the address has moved to
        another device. A device known by IP only whose IP answers from a MAC other than the
        one waiting for a parent's confirmation is not that device either: something else
        took its address, and gets the unknown-device rules until a parent decides."""
        if mac:
            mac = mac.lower()
            device = self.device_by_mac.get(mac)
            if device is not None:
                return device
        device = self.device_by_ip.get(ip) if ip else None
        if device is not None and mac:
            known = device.mac or device.pending_mac
            if known and known != mac:
                return None
        return device

    def whose_rules(self, device: Device | None, unassigned: str) -> tuple[Child | None, bool]:
        """(the child whose rules apply, whether an adult is asking) for a query from `device`.

        `unassigned` is the config's rules.unassigned: "youngest" or "adult"."""
        if device is not None and device.id in self.device_child:
            child = self.device_child[device.id]
            return child, child is None
        if unassigned == "adult":
            return None, True
        return self.youngest, False

    def next_end(self, now: datetime) -> datetime | None:
        """The first moment after `now` at which a pause or an overlay ends, if any."""
        ends = self.ends
        if not ends or ends[-1] <= now:
            return None
        return ends[bisect_right(ends, now)]

    def _budgeted(self) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        for b in self.budgets:
            child = self.child_by_id.get(b.child_id)
            if child is not None:
                out.setdefault(child.name, set()).add(b.target if b.kind != "all" else "")
        return {name: frozenset(targets) for name, targets in out.items()}

    def _overlay_ends(self) -> list[datetime]:
        return [o.until for o in self.overlays]

    def rules_for(self, child_id: int) -> ChildRules:
        return self.child_rules.get(child_id, NO_RULES)

    def _device_children(self) -> dict[int, Child | None]:
        out: dict[int, Child | None] = {}
        for d in self.devices:
            if d.owner == "adult":
                out[d.id] = None
            elif d.owner == "child" and d.child_id in self.child_by_id:
                out[d.id] = self.child_by_id[d.child_id]
            elif d.owner == "shared" and self.children:
                sharing = [self.child_by_id[i] for i in d.shared_with if i in self.child_by_id]
                out[d.id] = _youngest(sharing) or self.youngest
        return out

    def _child_rules(self) -> dict[int, ChildRules]:
        paused = _latest(self.pauses, "child_id")
        out: dict[int, ChildRules] = {}
        for child in self.children:
            mine = [r for r in self.rules if r.child_id == child.id]
            out[child.id] = ChildRules(
                allow_apps=_values(mine, "allow", "app"),
                allow_categories=_values(mine, "allow", "category"),
                allow_domains=_values(mine, "allow", "domain"),
                block_apps=_values(mine, "block", "app"),
                block_categories=_values(mine, "block", "category"),
                block_domains=_values(mine, "block", "domain"),
                schedules=tuple(s for s in self.schedules if s.child_id == child.id),
                paused_until=paused.get(child.id),
                overlays=tuple(o for o in self.overlays if o.child_id == child.id),
                budgets=tuple(b for b in self.budgets if b.child_id == child.id),
            )
        return out


def _youngest(children: Iterable[Child]) -> Child | None:
    # Latest birthday is youngest; ties go to the lower id so the answer is stable.
    return max(children, key=lambda c: (c.born, -c.id), default=None)


def _values(rules: Iterable[RuleEntry], verb: str, kind: str) -> frozenset[str]:
    return frozenset(r.value for r in rules if r.verb == verb and r.kind == kind)


def _latest(pauses: Iterable[Pause], attr: str) -> dict[int, datetime]:
    out: dict[int, datetime] = {}
    for p in pauses:
        key = getattr(p, attr)
        if key is not None and (key not in out or p.until > out[key]):
            out[key] = p.until
    return out


def match_suffix(name: str, domains: frozenset[str]) -> str | None:
    """The entry of `domains` that is `name` or one of its parent domains, if any."""
    if not domains:
        return None
    while True:
        if name in domains:
            return name
        _, dot, name = name.partition(".")
        if not dot:
            return None


def _seen_at(device: Device) -> float:
    return device.last_seen.timestamp() if device.last_seen is not None else float("-inf")
