"""The words a parent reads for each decision: short, calm, and never blaming the child.

`agent.rules.decide` decides; this module only says it. Keeping every sentence here means the
wording can be reviewed (and one day translated) without reading the rules engine. `who` is
the child's name, or None when no child is set up yet (a child of unknown age under 13).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time

from agent.rules.decision import RuleKind, RuleRef, Subject

CANARY = "Firefox is told to use this network's DNS, so the house rules keep working"
ADULT = "Allowed: on an adult's device only the blocked-for-everyone rules apply"
BYPASS = "Blocked: this service can get around the house rules (VPN, proxy or private DNS)"
FAMILY_FILTER = "Blocked by the family filter"
PRIVATE_RELAY = "iCloud Private Relay is off on this network so the house rules apply"


def label(category: str) -> str:
    """ "random-video-chat" -> "random video chat"."""
    return category.replace("-", " ")


def hhmm(moment: time) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def everyone(category: str) -> str:
    return f"Blocked for everyone: {label(category)}"


def paused(until: datetime, now: datetime) -> str:
    local = until.astimezone(now.tzinfo)
    when = hhmm(local.time()) if local.date() == now.date() else f"{local:%a} {hhmm(local.time())}"
    return f"Paused by a parent until {when}"


def unblocked(title: str, who: str | None, until: datetime, now: datetime) -> str:
    local = until.astimezone(now.tzinfo)
    when = hhmm(local.time()) if local.date() == now.date() else f"{local:%a} {hhmm(local.time())}"
    return f"Allowed for {who} for a while: {title}, until {when}"


def minutes_words(minutes: int) -> str:
    """ "an hour", "90 minutes", "2 hours", "45 minutes": how a parent says an allowance."""
    if minutes == 60:
        return "an hour"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return "a minute" if minutes == 1 else f"{minutes} minutes"


def budget_used(title: str | None, minutes: int) -> str:
    """ "Gaming: today's hour is used up"; "Online time: today's 2 hours are used up"."""
    allowance = minutes_words(minutes)
    if allowance.startswith(("an ", "a ")):
        said = f"today's {allowance.split(' ', 1)[1]} is used up"
    else:
        said = f"today's {allowance} are used up"
    return f"{(title or 'Online time')[:1].upper()}{(title or 'Online time')[1:]}: {said}"


def schedule_all(schedule: str, end: time) -> str:
    return f"{schedule}: the internet is off until {hhmm(end)}"


def schedule_off(schedule: str, what: str, end: time) -> str:
    return f"{schedule}: {what} is off until {hhmm(end)}"


def allowed(title: str, who: str | None) -> str:
    return f"Allowed for {who} by a house rule: {title}"


def blocked(title: str, who: str | None) -> str:
    return f"Blocked for {who} by a house rule: {title}"


def too_young(title: str, minimum_age: int, who: str | None, age: int) -> str:
    if who is None:
        return f"Blocked: {title} is for {minimum_age}+ (no child is set up yet, so under-13 rules)"
    return f"Blocked: {title} is for {minimum_age}+, {who} is {age}"


def listed(category: str, who: str | None) -> str:
    if category == "lists-rebuilding":  # agent.lists.index.REBUILDING
        return f"Blocked for {who or 'children'} for a few minutes, while the lists are rebuilt"
    return f"Blocked for {who or 'children'}: on the {label(category)} list"


def safe_search(who: str | None) -> str:
    return f"Safe search is on for {who or 'this device'}"


def no_safe_search(who: str | None) -> str:
    return f"Blocked for {who or 'this device'}: this search engine has no safe search"


def family_filter(service: str) -> str:
    """A name the children's family-filtering DNS service ("Cloudflare for Families", or ""
    for one HouseRules does not know by name) blocked."""
    return f"{FAMILY_FILTER} ({service})" if service else FAMILY_FILTER


def nothing_blocks(who: str | None) -> str:
    return f"Allowed: no house rule blocks this for {who or 'this device'}"


# Which rule, in words ------------------------------------------------------------------------
# Every kind of rule has a label for a parent (in "blocked most by" lists, the block page's
# "Which rule") and words for a child (why an app is off). `{what}` is the rule's subject in
# words: the app's or path rule's name, the category's label, the schedule's name. A test walks
# every `RuleKind` and fails on one missing here.


@dataclass(frozen=True)
class RuleWords:
    parent: str  # "{what}: blocked by a parent"
    child: str  # "a grown-up has switched it off"; "{age}" for an app's minimum age


_OFF = "it's switched off"
_PARENT_OFF = "a grown-up has switched it off"
_TIME_UP = "time's up for today; you can ask a grown-up for more"
_AROUND = "it could get around the house rules"

RULE_WORDS: dict[RuleKind, RuleWords] = {
    RuleKind.DEFAULT: RuleWords("no house rule", "nothing is switched off"),
    RuleKind.CANARY: RuleWords("Firefox kept on the home DNS", "the house rules apply in Firefox"),
    RuleKind.RESOLVER_DISCOVERY: RuleWords(
        "devices kept on the home DNS", "the house rules apply on this network"
    ),
    RuleKind.PRIVATE_RELAY: RuleWords("iCloud Private Relay", _AROUND),
    RuleKind.ALWAYS_BLOCK: RuleWords("{what} (blocked for everyone)", "it's blocked for everyone"),
    RuleKind.PROTECTION: RuleWords("ways around the house rules", _AROUND),
    RuleKind.PAUSE: RuleWords("paused", "a grown-up has paused the internet for now"),
    RuleKind.SCHEDULE: RuleWords("{what} schedule", "it's off during {what}"),
    RuleKind.ALLOW_DOMAIN: RuleWords("{what}: allowed by a parent", "a grown-up has allowed it"),
    RuleKind.ALLOW_APP: RuleWords("{what}: allowed by a parent", "a grown-up has allowed it"),
    RuleKind.ALLOW_CATEGORY: RuleWords("{what}: allowed by a parent", "a grown-up has allowed it"),
    RuleKind.BLOCK_DOMAIN: RuleWords("{what}: blocked by a parent", _PARENT_OFF),
    RuleKind.BLOCK_APP: RuleWords("{what}: blocked by a parent", _PARENT_OFF),
    RuleKind.BLOCK_CATEGORY: RuleWords("{what}: blocked by a parent", _PARENT_OFF),
    RuleKind.AGE: RuleWords("{what}: under the app's minimum age", "it's for {age} and over"),
    RuleKind.AGE_CATEGORY: RuleWords("{what}: for adults", "it's for grown-ups"),
    RuleKind.LIST: RuleWords("{what} list", _OFF),
    RuleKind.SAFE_SEARCH: RuleWords("{what} with safe search", "safe search is on"),
    RuleKind.NO_SAFE_SEARCH: RuleWords("search engines without safe search", _OFF),
    RuleKind.PATH: RuleWords("{what}: switched off in the house rules", _OFF),
    RuleKind.SEARCH: RuleWords("searches on {what}", "nothing is switched off"),
    RuleKind.UPSTREAM_BLOCK: RuleWords("blocked by the internet provider's DNS", _OFF),
    RuleKind.REBINDING: RuleWords("an answer pointing into the home network", _OFF),
    RuleKind.UNREADABLE_ANSWER: RuleWords("an answer that could not be read", _OFF),
    RuleKind.UNKNOWN: RuleWords("another house rule", _OFF),
    RuleKind.FLOOD: RuleWords(
        "too many lookups at once (turned away for a moment)",
        "this device asked too much at once; it works again as soon as it slows down",
    ),
    RuleKind.FAMILY_FILTER: RuleWords(
        "the family filter (a family-safe DNS service)", "the family filter keeps it off"
    ),
    RuleKind.UNBLOCK_APP: RuleWords(
        "{what} (allowed for a while by a parent)", "a grown-up said yes for a while"
    ),
    RuleKind.UNBLOCK_DOMAIN: RuleWords(
        "{what} (allowed for a while by a parent)", "a grown-up said yes for a while"
    ),
    RuleKind.UNBLOCK_CATEGORY: RuleWords(
        "{what} (allowed for a while by a parent)", "a grown-up said yes for a while"
    ),
    RuleKind.BUDGET_APP: RuleWords("{what}: today's time is used up", _TIME_UP),
    RuleKind.BUDGET_CATEGORY: RuleWords("{what}: today's time is used up", _TIME_UP),
    RuleKind.BUDGET_ALL: RuleWords("today's online time is used up", _TIME_UP),
}

Namer = Callable[[str], str | None]


def subject_words(
    rule: RuleRef, app_name: Namer | None = None, path_name: Namer | None = None
) -> str:
    """The rule's subject as a parent reads it: a name, never an id or a `kind:subject`."""
    kind, subject = rule.kind.subject, rule.subject
    if kind is Subject.APP:
        return (app_name(subject) if app_name else None) or subject
    if kind is Subject.PATH:
        return (path_name(subject) if path_name else None) or label(subject)
    if kind is Subject.CATEGORY:
        return label(subject)
    if kind is Subject.ENGINE:
        return subject.capitalize()
    return subject


def rule_label(rule: RuleRef, app_name: Namer | None = None, path_name: Namer | None = None) -> str:
    """The rule in a parent's words: "TikTok: under the app's minimum age"."""
    what = subject_words(rule, app_name, path_name)
    return RULE_WORDS[rule.kind].parent.format(what=what)


def child_words(rule: RuleRef, minimum_age: int | None = None) -> str:
    """Why something is off, said to the child: "it's for 13 and over"."""
    if rule.kind is RuleKind.AGE and not minimum_age:
        return "it's for older children"
    return RULE_WORDS[rule.kind].child.format(what=subject_words(rule), age=minimum_age)


# -- what the DNS server says about an upstream's answer (agent/dns/answers.py) --------------

UPSTREAM_BLOCK = "Blocked by the upstream DNS service: it answered 0.0.0.0, its sign for a block"
UNREADABLE_ANSWER = "Refused: the upstream DNS service sent an answer that could not be read"
AROUND_SAFE_SEARCH = "reached this way, the search engine would skip safe search"
RESOLVER_DISCOVERY = (
    "Devices are not offered encrypted DNS around the box (RFC 9462), so the house rules apply"
)


def led_to(name: str, target: str, reason: str) -> str:
    """A name that is fine itself, whose answer pointed somewhere that is not: say both.
    ("innocent.example led to TikTok: TikTok is for 13+, Sam is 11")."""
    return f"{name} led to {target}: {reason.removeprefix('Blocked: ')}"


def rebinding(address: str) -> str:
    return (
        f"Refused: a name outside the home answered with a home-network address ({address}), "
        "a trick (DNS rebinding) used to reach the router or other devices"
    )
