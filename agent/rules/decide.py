"""The one pure decision point: what the house rules say about one DNS query.

`decide(policy, client_ip, name, qtype, now) -> Decision` does no I/O and reads no clock:
`now` (timezone-aware, in the box's zone) gives the weekday and time of day. The DNS server and
the proxy addon ask it and act on the answer; the query log stores the answer as it is.

Precedence (the first step that decides wins):

 0. Who is asking. The device is found by MAC (neighbour table), then by IP. A child's device:
    that child. A shared device: the youngest child it is shared with (the youngest child if it
    names none). An adult's device: an adult. An unknown or unassigned device: `rules.unassigned`
    = "youngest" uses the youngest child's rules, or, with no children at all, those of a child
    of unknown age under 13 (steps 1, 5 at age 12 and 6 at strict only); "adult" an adult. No
    household at all behaves like an empty one.
    The Firefox canary `use-application-dns.net` answers NXDOMAIN for everyone, adults too: it
    is a network-wide signal, not a block. Firefox checks it before switching on its automatic
    DNS-over-HTTPS; NXDOMAIN tells it this network filters DNS, so every browser keeps using
    the box and the house rules keep applying. An adult's Firefox loses nothing that matters:
    it still resolves everything through the box.
    `_dns.resolver.arpa` (Discovery of Designated Resolvers, RFC 9462) answers NODATA for
    everyone, as Pi-hole does: a device that asks it is looking for an encrypted resolver to
    upgrade to, and finding none it keeps asking the box.
 1. Blocked for everyone: categories in `rules.always_block` (from any list or app).
    Adults stop here: anything else is allowed, with no safe search.
    Protections, on for every child unless a parent switched them off for that child:
    iCloud Private Relay (`mask.icloud.com`, `mask-h2.icloud.com`) answers NXDOMAIN as Apple
    asks; names on the "bypass" list and the domains of "vpn-proxy" apps are blocked.
 2. A pause of the child or of the device, until it ends.
 3. The child's schedules that are on now: `block_all`, or the categories and app ids they
    list. A schedule's own allow domains (suffix match) pass that schedule. A "more time"
    overlay holds its schedule off while `now < until`.
 3b. A daily time budget used up for today (app, category, or all online time), unless an
    "unblock" overlay for the name is running (a reward beats the budget). It only blocks:
    a budget never opens what a schedule, a pause or an age rule closes.
 4. An "unblock" overlay running now (app, or domain by suffix), then the parent's explicit
    allow for this child (app, category, or domain by suffix) skips to step 6; otherwise the
    parent's explicit block (domain by suffix, category, app).
 5. Age defaults: apps whose minimum age is above the child's age; `rules.under_18_block`
    categories under 18; and any category that comes from a configured list (a claim whose
    source is not the app catalogue), unless explicitly allowed.
 6. Safe search for every allowed query of a child, explicit allows included: a CNAME to the
    engine's safe host. YouTube's level is the child's setting or by age (strict under 13,
    moderate 13-17, off from 18). Search engines that cannot be made safe (the safe-search
    file's `unsafe_engines`) are blocked instead, unless explicitly allowed. A parent can turn
    safe search off per child (`ChildSettings.safe_search`).
 7. Otherwise allow.

Shared infrastructure: a name claimed by several apps is blocked by the app rules (explicit
app and category blocks, app ages, schedules) only when EVERY app claiming it is blocked for
that child, so blocking YouTube for an 8-year-old leaves YouTube Kids on googlevideo.com alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from agent.dns.native import fastpath
from agent.lists.claims import Claims
from agent.rules import reasons as say
from agent.rules.budgets import next_reset
from agent.rules.budgets import state as budget_state
from agent.rules.decision import Action, Decision, RuleKind, RuleRef
from agent.rules.household import (
    NO_RULES,
    Child,
    ChildRules,
    ChildSettings,
    Device,
    Household,
    Overlay,
    Schedule,
    match_suffix,
)
from agent.rules.overlays import held_off
from agent.rules.policy import Policy

if TYPE_CHECKING:
    from agent.rules.catalog import App

CANARY = "use-application-dns.net"
PRIVATE_RELAY = frozenset({"mask.icloud.com", "mask-h2.icloud.com"})
BYPASS, VPN_PROXY = "bypass", "vpn-proxy"
PROTECTION_CATEGORIES = frozenset({BYPASS, VPN_PROXY})
APPS_SOURCE = "apps"  # the source name of claims that come from the app catalogue
UNKNOWN_AGE = 12  # "a child of unknown age under 13"
ADULT_AGE = 18
EMPTY_HOUSEHOLD = Household()
NOTHING_HELD: frozenset[int] = frozenset()
UNKNOWN_CHILD = ChildSettings(youtube_level="strict")
BLOCK, ALLOW = Action.BLOCK, Action.ALLOW

K = RuleKind
CANARY_DECISION = Decision(BLOCK, say.CANARY, RuleRef(K.CANARY), nxdomain=True)
RESOLVER_DISCOVERY = "_dns.resolver.arpa"
# The DNS server answers it NODATA whatever the block mode (`agent.dns.answers.nodata_tail`)
RESOLVER_DISCOVERY_DECISION = Decision(BLOCK, say.RESOLVER_DISCOVERY, RuleRef(K.RESOLVER_DISCOVERY))


_MADE: dict[tuple[object, ...], Decision] = {}
_MADE_MAX = 4096


def made(
    action: Action,
    reason: str,
    kind: RuleKind,
    subject: str = "",
    child: str | None = None,
    app: str | None = None,
    category: str | None = None,
    rewrite_to: str | None = None,
    nxdomain: bool = False,
) -> Decision:
    """A Decision, shared with earlier equal ones: building a frozen dataclass costs ~1 us,
    a dict hit a tenth of that, and the same few answers repeat all day. Decisions are
    immutable, so sharing them changes nothing for callers. The rule is given as its kind and
    subject, so its `RuleRef` too is built only when the decision is new."""
    key = (action, reason, kind, subject, child, app, category, rewrite_to, nxdomain)
    found = _MADE.get(key)
    if found is None:
        if len(_MADE) >= _MADE_MAX:
            _MADE.clear()  # a bound, not an eviction policy: refills in one pass
        rule = RuleRef(kind, subject)
        found = _MADE[key] = Decision(
            action, reason, rule, child, app, category, rewrite_to, nxdomain
        )
    return found


@dataclass(slots=True)
class _Ask:
    """One query being decided: what was asked, by whom, and what the lists say about it."""

    policy: Policy
    name: str
    claims: Claims
    who: str | None  # the child's name; None for a child of unknown age, or an adult
    age: int = UNKNOWN_AGE
    allowed_app: str | None = None  # on a shared name, an app the rules left open

    def app(self, app_id: str) -> App | None:
        catalog = self.policy.catalog
        return catalog.get(app_id) if catalog is not None else None

    def decision(
        self,
        action: Action,
        reason: str,
        kind: RuleKind,
        subject: str = "",
        category: str | None = None,
    ) -> Decision:
        """A decision labelled with the app (and its category) that claims the name, if any."""
        if not self.claims:
            return made(action, reason, kind, subject, self.who, None, category)
        apps, categories = self.claims.apps, self.claims.categories
        # An allowed query on a name several apps share (youtubekids.com) is put down to the
        # app that is allowed, so activity counts for YouTube Kids, not YouTube.
        shared_allowed = action is not BLOCK and self.allowed_app
        app_id = shared_allowed or (min(apps) if apps else None)
        if category is None:
            app = self.app(app_id) if app_id is not None else None
            category = app.category if app is not None else min(categories, default=None)
        return made(action, reason, kind, subject, self.who, app_id, category)


def decide(policy: Policy, client_ip: str, name: str, qtype: int, now: datetime) -> Decision:
    """The house rules' answer for `name` (lower-case, no trailing dot) asked by `client_ip`.

    `qtype` is there for the adapters; no rule depends on it today.

    Most names meet no rule about that name itself (see `_special_names`); their answer then
    depends only on who asks, when, and which claim sets the lists give the name. Those
    answers are kept for the rest of the second (`_Recent`): a million different blocked
    names from one list cost one full decision a second, not a million."""
    global _recent
    recent = _recent
    if recent.policy is not policy or recent.now != now:
        recent = _recent = _Recent(policy, now, recent)
    if not recent.is_special(name):
        key = (client_ip, policy.index.claim_key(name))
        found = recent.decisions.get(key)
        if found is None:
            found = recent.keep(key, _decide(policy, client_ip, name, now))
        return found
    return _decide(policy, client_ip, name, now)


def name_classes(policy: Policy) -> tuple[object, object] | None:
    """`decide`'s promise about names no rule names, as two compiled tables `(special,
    index)` that a compiled front end can read: a name with no suffix in `special` and
    exactly one listed suffix in `index`, of claim set id k (`index.lookup(name)` is
    `((length, k),)`), is decided exactly as every other such name with the same k, for one
    client, policy and moment (the decision `_Recent` keeps under `(client, k)`). None when
    either table is not compiled."""
    index = policy.index.compiled
    if index is None:
        return None
    recent = _recent
    special = recent.is_special if recent.policy is policy else _special_test(policy)
    table = getattr(special, "__self__", None)  # a Table's bound `lookup`, when compiled
    if fastpath is None or type(table) is not fastpath.Table:
        return None
    return table, index


def holds_until(policy: Policy, now: datetime) -> datetime:
    """The first moment after `now` at which the passing of time alone may change a decision
    for this policy: until then `decide` answers every question as it does at `now`, for as
    long as the policy is the same. Lets the DNS server keep prepared answers past the second.

    It names every moment that `_decide` and its reasons read of `now`, and may name more:
    a pause or an overlay ending (`Household.ends`), a schedule starting or ending (any
    schedule, at today's times: tomorrow's come after midnight), local midnight (ages,
    weekdays, the day a reason names) and a budget's day starting again. A rule that reads
    the time in a new way must be named here too (tests/test_rules_horizon.py checks the two
    agree)."""
    today = now.date()
    soonest = datetime.combine(today + timedelta(days=1), time(0), now.tzinfo)
    household = policy.household
    if household is None:
        return soonest
    end = household.next_end(now)
    if end is not None and end < soonest:
        soonest = end
    for s in household.schedules:
        for at in (s.start, s.end):
            moment = datetime.combine(today, at, now.tzinfo)
            if now < moment < soonest:
                soonest = moment
    for hour in {b.reset_hour for b in household.budgets}:
        moment = next_reset(now, hour)
        if moment < soonest:
            soonest = moment
    return soonest


class _Recent:
    """Decisions for names with no rule of their own, for one policy and one second.

    Never changed but for adding decisions: a new policy or second gets a new one, swapped in
    with one assignment, so threads that decide at once (the dashboard's) each see one whole."""

    MAX = 10_000

    def __init__(self, policy: Policy | None, now: datetime | None, before: _Recent | None):
        self.policy, self.now = policy, now
        self.decisions: dict[tuple[str, object], Decision] = {}
        if before is not None and before.policy is policy:
            self.is_special: Callable[[str], object] = before.is_special
        else:
            self.is_special = _special_test(policy) if policy is not None else bool

    def keep(self, key: tuple[str, object], decision: Decision) -> Decision:
        if len(self.decisions) >= self.MAX:
            self.decisions.clear()
        self.decisions[key] = decision
        return decision


def _special_test(policy: Policy) -> Callable[[str], object]:
    """Whether a name is, or is below, one of `_special_names`: in C where it is built."""
    special = _special_names(policy)
    if fastpath is not None:  # the same suffix test in C, a tenth of the time
        with contextlib.suppress(ValueError):  # a name that is not ASCII, say
            return fastpath.Table(fastpath.build_table((n, 0) for n in special)).lookup
    return lambda name: match_suffix(name, special) is not None


def _special_names(policy: Policy) -> frozenset[str]:
    """Every name (and so, by suffix, every name below it) that some rule treats by name
    rather than by what the lists say: the canary, Private Relay, parents' domain rules,
    schedules' allowed domains, and the safe-search hosts."""
    names = {CANARY, RESOLVER_DISCOVERY, *PRIVATE_RELAY}
    household = policy.household
    if household is not None:
        names.update(r.value for r in household.rules if r.kind == "domain")
        for s in household.schedules:
            names.update(s.allow)
        names.update(o.target for o in household.overlays if o.target_kind == "domain")
    if policy.safesearch is not None:
        names.update(policy.safesearch.names)
    return frozenset(names)


_recent = _Recent(None, None, None)


def _decide(policy: Policy, client_ip: str, name: str, now: datetime) -> Decision:
    if name == CANARY:
        return CANARY_DECISION
    if name == RESOLVER_DISCOVERY:
        return RESOLVER_DISCOVERY_DECISION
    household = policy.household or EMPTY_HOUSEHOLD
    device = household.device_for(client_ip, policy.neighbours.get(client_ip))
    child, adult = household.whose_rules(device, policy.rules.unassigned)
    ask = _Ask(policy, name, policy.index.lookup(name), child.name if child else None)
    categories = ask.claims.categories
    if categories:
        for category in policy.rules.always_block:
            if category in categories:
                reason = say.everyone(category)
                return ask.decision(BLOCK, reason, K.ALWAYS_BLOCK, category, category)
    if adult:
        return ask.decision(ALLOW, say.ADULT, K.DEFAULT)
    if child is None:
        blocked = _protections(ask) or _blocks(ask, NO_RULES)
        return blocked or _finish(ask, UNKNOWN_CHILD, None)
    return _child(ask, household, child, device, now)


def _child(
    ask: _Ask, household: Household, child: Child, device: Device | None, now: datetime
) -> Decision:
    rules = household.rules_for(child.id)
    if child.settings.protections_on:
        blocked = _protections(ask)
        if blocked is not None:
            return blocked
    until = rules.paused_until
    if device is not None:
        device_until = household.device_paused_until.get(device.id)
        if device_until is not None and (until is None or device_until > until):
            until = device_until
    if until is not None and until > now:
        return made(BLOCK, say.paused(until, now), K.PAUSE, "", ask.who)
    if rules.schedules:
        blocked = _schedules(ask, rules, now)
        if blocked is not None:
            return blocked
    ask.age = child.age_on(now.date())
    allowed = _overlay_allow(ask, rules.overlays, now) if rules.overlays else None
    if allowed is None and rules.budgets:
        blocked = _budgets(ask, rules, now)
        if blocked is not None:
            return blocked
    allowed = allowed or _explicit_allow(ask, rules)
    if allowed is None:
        blocked = _blocks(ask, rules)
        if blocked is not None:
            return blocked
    return _finish(ask, child.settings, allowed)


def _protections(ask: _Ask) -> Decision | None:
    if ask.name in PRIVATE_RELAY:
        return made(
            BLOCK, say.PRIVATE_RELAY, K.PRIVATE_RELAY, "", ask.who, None, VPN_PROXY, None, True
        )
    claims = ask.claims
    if not claims:
        return None
    if BYPASS in claims.categories:
        return ask.decision(BLOCK, say.BYPASS, K.PROTECTION, BYPASS, BYPASS)
    for app_id in claims.apps:
        app = ask.app(app_id)
        if app is not None and app.category == VPN_PROXY:
            # Apple asks for NXDOMAIN (not a sinkhole) so devices give up on Private Relay fast.
            nx = app.dns_nxdomain
            return made(
                BLOCK, say.BYPASS, K.PROTECTION, VPN_PROXY, ask.who, app_id, VPN_PROXY, None, nx
            )
    if VPN_PROXY in claims.categories:
        return ask.decision(BLOCK, say.BYPASS, K.PROTECTION, VPN_PROXY, VPN_PROXY)
    return None


def _schedules(ask: _Ask, rules: ChildRules, now: datetime) -> Decision | None:
    weekday, at = now.weekday(), now.time()
    off = held_off(rules.overlays, now) if rules.overlays else NOTHING_HELD
    for s in rules.schedules:
        if s.id in off:
            continue
        if s.covers(weekday, at) and not (s.allow_set and match_suffix(ask.name, s.allow_set)):
            blocked = _schedule_block(ask, s)
            if blocked is not None:
                return blocked
    return None


def _schedule_block(ask: _Ask, s: Schedule) -> Decision | None:
    if s.block_all:
        return ask.decision(BLOCK, say.schedule_all(s.name, s.end), K.SCHEDULE, s.name)
    if not s.block or not ask.claims:
        return None
    category = _first(_list_categories(ask), s.block)
    if category is not None:
        reason = say.schedule_off(s.name, say.label(category), s.end)
        return made(BLOCK, reason, K.SCHEDULE, s.name, ask.who, None, category)
    if not ask.claims.apps:
        return None

    def verdict(app_id: str, app: App | None) -> Decision | None:
        category = app.category if app is not None else None
        if app_id in s.block or category in s.block:
            title = app.name if app is not None else app_id
            reason = say.schedule_off(s.name, title, s.end)
            return made(BLOCK, reason, K.SCHEDULE, s.name, ask.who, app_id, category)
        return None

    return _every_app(ask, verdict)


def _overlay_allow(ask: _Ask, overlays: tuple[Overlay, ...], now: datetime) -> Decision | None:
    """An "unblock" overlay running now for this app, category or domain."""
    for o in overlays:
        if o.kind != "unblock" or not now < o.until or o.target is None:
            continue
        if o.target_kind == "domain" and match_suffix(ask.name, frozenset((o.target,))):
            reason = say.unblocked(o.target, ask.who, o.until, now)
            return ask.decision(ALLOW, reason, K.UNBLOCK_DOMAIN, o.target)
        if o.target_kind == "app" and o.target in ask.claims.apps:
            app = ask.app(o.target)
            title, category = (app.name, app.category) if app else (o.target, None)
            reason = say.unblocked(title, ask.who, o.until, now)
            return made(ALLOW, reason, K.UNBLOCK_APP, o.target, ask.who, o.target, category)
        if o.target_kind == "category" and o.target in ask.claims.categories:
            reason = say.unblocked(say.label(o.target), ask.who, o.until, now)
            return ask.decision(ALLOW, reason, K.UNBLOCK_CATEGORY, o.target, o.target)
    return None


def _budgets(ask: _Ask, rules: ChildRules, now: datetime) -> Decision | None:
    """Step 3b: a daily budget used up for today (it only ever blocks)."""
    overlays = rules.overlays
    for b in rules.budgets:
        if b.kind == "all":
            found = budget_state(b, overlays, now)
            if found.used_up:
                reason = say.budget_used(None, found.allowed)
                return made(BLOCK, reason, K.BUDGET_ALL, "", ask.who)
    claims = ask.claims
    if not claims:
        return None
    if not claims.apps:
        for b in rules.budgets:
            if b.kind == "category" and b.target in claims.categories:
                found = budget_state(b, overlays, now)
                if found.used_up:
                    reason = say.budget_used(say.label(b.target), found.allowed)
                    return made(BLOCK, reason, K.BUDGET_CATEGORY, b.target, ask.who, None, b.target)
        return None

    def verdict(app_id: str, app: App | None) -> Decision | None:
        category = app.category if app is not None else None
        for b in rules.budgets:
            if b.kind == "app" and b.target == app_id:
                title, kind = (app.name if app is not None else app_id), K.BUDGET_APP
            elif b.kind == "category" and b.target == category:
                title, kind = say.label(b.target), K.BUDGET_CATEGORY
            else:
                continue
            found = budget_state(b, overlays, now)
            if found.used_up:
                reason = say.budget_used(title, found.allowed)
                return made(BLOCK, reason, kind, b.target, ask.who, app_id, category)
        return None

    return _every_app(ask, verdict)


def _explicit_allow(ask: _Ask, rules: ChildRules) -> Decision | None:
    if rules.allow_domains:
        domain = match_suffix(ask.name, rules.allow_domains)
        if domain is not None:
            return ask.decision(ALLOW, say.allowed(domain, ask.who), K.ALLOW_DOMAIN, domain)
    if rules.allow_apps:
        for app_id in ask.claims.apps:
            if app_id in rules.allow_apps:
                app = ask.app(app_id)
                title, category = (app.name, app.category) if app else (app_id, None)
                reason = say.allowed(title, ask.who)
                return made(ALLOW, reason, K.ALLOW_APP, app_id, ask.who, app_id, category)
    category = _first(ask.claims.categories, rules.allow_categories)
    if category is not None:
        reason = say.allowed(say.label(category), ask.who)
        return ask.decision(ALLOW, reason, K.ALLOW_CATEGORY, category, category)
    return None


def _blocks(ask: _Ask, rules: ChildRules) -> Decision | None:
    """Step 4's explicit blocks, then step 5: age defaults and configured lists."""
    if rules.block_domains:
        domain = match_suffix(ask.name, rules.block_domains)
        if domain is not None:
            return ask.decision(BLOCK, say.blocked(domain, ask.who), K.BLOCK_DOMAIN, domain)
    if not ask.claims:
        return None
    listed = _list_categories(ask)
    category = _first(listed, rules.block_categories)
    if category is not None:
        reason = say.blocked(say.label(category), ask.who)
        return made(BLOCK, reason, K.BLOCK_CATEGORY, category, ask.who, None, category)
    under_18 = ask.policy.rules.under_18_block if ask.age < ADULT_AGE else ()
    if ask.claims.apps:
        blocked = _every_app(ask, _app_rules(ask, rules, under_18))
        if blocked is not None:
            return blocked
    category = min((c for c in listed if c in under_18), default=None) if under_18 else None
    if category is not None:
        reason = say.too_young(say.label(category), ADULT_AGE, ask.who, ask.age)
        return made(BLOCK, reason, K.AGE_CATEGORY, category, ask.who, None, category)
    category = min(listed - PROTECTION_CATEGORIES, default=None)
    if category is not None:
        reason = say.listed(category, ask.who)
        return made(BLOCK, reason, K.LIST, category, ask.who, None, category)
    return None


def _app_rules(
    ask: _Ask, rules: ChildRules, under_18: tuple[str, ...]
) -> Callable[[str, App | None], Decision | None]:
    def verdict(app_id: str, app: App | None) -> Decision | None:
        category = app.category if app is not None else None
        title = app.name if app is not None else app_id
        if app_id in rules.block_apps:
            kind, subject, reason = K.BLOCK_APP, app_id, say.blocked(title, ask.who)
        elif category is not None and category in rules.block_categories:
            kind, subject = K.BLOCK_CATEGORY, category
            reason = say.blocked(say.label(category), ask.who)
        elif app is not None and app.minimum_age > ask.age:
            kind, subject = K.AGE, app_id
            reason = say.too_young(title, app.minimum_age, ask.who, ask.age)
        elif category in under_18:
            kind, subject = K.AGE_CATEGORY, category
            reason = say.too_young(say.label(category), ADULT_AGE, ask.who, ask.age)
        else:
            return None
        return made(BLOCK, reason, kind, subject, ask.who, app_id, category)

    return verdict


def _every_app(ask: _Ask, verdict: Callable[[str, App | None], Decision | None]) -> Decision | None:
    """The first verdict (in app id order) if EVERY app claiming the name gets one."""
    apps = ask.claims.apps
    first = None
    for app_id in apps if len(apps) == 1 else sorted(apps):
        found = verdict(app_id, ask.app(app_id))
        if found is None:
            ask.allowed_app = app_id
            return None
        first = first or found
    return first


def _finish(ask: _Ask, settings: ChildSettings, allowed: Decision | None) -> Decision:
    """Steps 6 and 7: safe search, else allow."""
    safesearch = ask.policy.safesearch
    if safesearch is not None and settings.safe_search:
        level = settings.youtube_level or (
            "strict" if ask.age < 13 else "moderate" if ask.age < ADULT_AGE else "off"
        )
        target = safesearch.target(ask.name, level)
        if target is not None:
            engine, cname = target
            reason = say.safe_search(ask.who)
            app, category = (allowed.app, allowed.category) if allowed else (None, None)
            return made(
                Action.REWRITE, reason, K.SAFE_SEARCH, engine, ask.who, app, category, cname
            )
        if allowed is None and match_suffix(ask.name, safesearch.unsafe_engines):
            reason = say.no_safe_search(ask.who)
            return ask.decision(BLOCK, reason, K.NO_SAFE_SEARCH, "", "search")
    if allowed is not None:
        return allowed
    return ask.decision(ALLOW, say.nothing_blocks(ask.who), K.DEFAULT)


def _list_categories(ask: _Ask) -> frozenset[str]:
    """The categories a name has from configured lists (not from the app catalogue)."""
    claims = ask.claims
    sources = claims.sources
    if not sources or (len(sources) == 1 and APPS_SOURCE in sources):
        return frozenset()
    if not claims.apps or ask.policy.catalog is None:
        return claims.categories
    from_apps = {app.category for a in claims.apps if (app := ask.app(a)) is not None}
    # When a list and an app give the same category, the list's claim still stands.
    return (claims.categories - from_apps) or claims.categories


def _first(have: frozenset[str], wanted: frozenset[str]) -> str | None:
    if not have or not wanted:
        return None
    common = have & wanted
    return min(common) if common else None
