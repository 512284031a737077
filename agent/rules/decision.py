"""What the rules engine answers: an action and the reason for it, as data.

The DNS server and the proxy addon act on a `Decision`; the query log stores it as is, so the
dashboard and the digest can explain every block in a parent's words.

Which rule decided is typed: a `RuleRef` is a `RuleKind` and its subject (the app, category,
schedule, domain, search engine or path rule it is about). The query log keeps it as one text
column ("age:tiktok", "schedule:Bedtime"): `RuleRef.to_column` writes that text and
`RuleRef.from_column` reads it back, and nothing else builds or parses it. The words a parent
or child reads for each kind are in `agent.rules.reasons.RULE_WORDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache


class Action(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"
    REWRITE = "rewrite"  # answer with a CNAME to `rewrite_to` (safe search)


class Subject(StrEnum):
    """What a rule kind's subject names."""

    NONE = "none"
    APP = "app"  # an app catalogue id
    CATEGORY = "category"
    SCHEDULE = "schedule"  # a schedule's name
    DOMAIN = "domain"
    ENGINE = "engine"  # a search engine id (safe search, recorded searches)
    PATH = "path"  # a path rule id (the proxy: "youtube-shorts")
    TEXT = "text"  # a query-log text this version does not know


class RuleKind(StrEnum):
    """Which rule decided; the value is the query log's prefix for it."""

    DEFAULT = "default"  # nothing blocks it (or an adult's device)
    CANARY = "canary"  # Firefox's DNS-over-HTTPS canary
    RESOLVER_DISCOVERY = "resolver-discovery"  # _dns.resolver.arpa (RFC 9462): NODATA
    PRIVATE_RELAY = "private-relay"
    ALWAYS_BLOCK = "always-block"
    PROTECTION = "protection"  # bypass list, VPN and proxy apps
    PAUSE = "pause"
    SCHEDULE = "schedule"
    ALLOW_DOMAIN = "allow:domain"
    ALLOW_APP = "allow:app"
    ALLOW_CATEGORY = "allow:category"
    BLOCK_DOMAIN = "block:domain"
    BLOCK_APP = "block:app"
    BLOCK_CATEGORY = "block:category"
    AGE = "age"  # the app's minimum age
    AGE_CATEGORY = "age-category"  # an adults-only category
    LIST = "list"  # a configured blocklist's category
    SAFE_SEARCH = "safe-search"  # rewritten to the engine's safe host
    NO_SAFE_SEARCH = "safe-search:unsupported"  # an engine that cannot be made safe
    PATH = "path"  # the proxy's path rules: one part of an allowed app
    SEARCH = "search"  # the proxy's record of a search (allowed)
    FLOOD = "flood"  # the DNS turned a device away: over its rate limit (not a house rule)
    UNBLOCK_APP = "unblock:app"  # a parent's timed unblock (an overlay with an expiry)
    UNBLOCK_DOMAIN = "unblock:domain"
    UNBLOCK_CATEGORY = "unblock:category"
    BUDGET_APP = "budget:app"  # a daily time budget that is used up for today
    BUDGET_CATEGORY = "budget:category"
    BUDGET_ALL = "budget"  # the budget for all online time
    FAMILY_FILTER = "family-filter"  # the children's family-filtering upstream blocked it
    # What the DNS server finds in an upstream's answer (agent/dns/answers.py); a chain that
    # leads to a blocked name keeps that name's own kind, with "led to" words.
    UPSTREAM_BLOCK = "upstream-block"  # the upstream answered 0.0.0.0 / ::, its own block
    REBINDING = "rebinding"  # a public name answered with a home-network address
    UNREADABLE_ANSWER = "unreadable-answer"  # an answer that could not be read: refused
    UNKNOWN = "unknown"  # a query-log text this version cannot read (the text is the subject)

    @property
    def subject(self) -> Subject:
        return _SUBJECTS[self]

    @property
    def explicit(self) -> bool:
        """A parent's own allow or block."""
        return self in _EXPLICIT

    @property
    def by_age(self) -> bool:
        return self is RuleKind.AGE or self is RuleKind.AGE_CATEGORY

    @property
    def protection(self) -> bool:
        """A rule that keeps the house rules from being got around."""
        return self is RuleKind.PROTECTION or self is RuleKind.PRIVATE_RELAY


_SUBJECTS: dict[RuleKind, Subject] = {
    RuleKind.DEFAULT: Subject.NONE,
    RuleKind.CANARY: Subject.NONE,
    RuleKind.RESOLVER_DISCOVERY: Subject.NONE,
    RuleKind.PRIVATE_RELAY: Subject.NONE,
    RuleKind.ALWAYS_BLOCK: Subject.CATEGORY,
    RuleKind.PROTECTION: Subject.CATEGORY,
    RuleKind.PAUSE: Subject.NONE,
    RuleKind.SCHEDULE: Subject.SCHEDULE,
    RuleKind.ALLOW_DOMAIN: Subject.DOMAIN,
    RuleKind.ALLOW_APP: Subject.APP,
    RuleKind.ALLOW_CATEGORY: Subject.CATEGORY,
    RuleKind.BLOCK_DOMAIN: Subject.DOMAIN,
    RuleKind.BLOCK_APP: Subject.APP,
    RuleKind.BLOCK_CATEGORY: Subject.CATEGORY,
    RuleKind.AGE: Subject.APP,
    RuleKind.AGE_CATEGORY: Subject.CATEGORY,
    RuleKind.LIST: Subject.CATEGORY,
    RuleKind.SAFE_SEARCH: Subject.ENGINE,
    RuleKind.NO_SAFE_SEARCH: Subject.NONE,
    RuleKind.PATH: Subject.PATH,
    RuleKind.SEARCH: Subject.ENGINE,
    RuleKind.FLOOD: Subject.NONE,
    RuleKind.UNBLOCK_APP: Subject.APP,
    RuleKind.UNBLOCK_DOMAIN: Subject.DOMAIN,
    RuleKind.UNBLOCK_CATEGORY: Subject.CATEGORY,
    RuleKind.BUDGET_APP: Subject.APP,
    RuleKind.BUDGET_CATEGORY: Subject.CATEGORY,
    RuleKind.BUDGET_ALL: Subject.NONE,
    RuleKind.FAMILY_FILTER: Subject.NONE,
    RuleKind.UPSTREAM_BLOCK: Subject.NONE,
    RuleKind.REBINDING: Subject.NONE,
    RuleKind.UNREADABLE_ANSWER: Subject.NONE,
    RuleKind.UNKNOWN: Subject.TEXT,
}
_EXPLICIT = frozenset(k for k in RuleKind if k.value.startswith(("allow:", "block:")))
_WHOLE = {k.value: k for k in RuleKind if _SUBJECTS[k] is Subject.NONE}
_PREFIXED = {k.value: k for k in RuleKind if _SUBJECTS[k] not in (Subject.NONE, Subject.TEXT)}


@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule kind and its subject ("" for kinds that have none)."""

    kind: RuleKind
    subject: str = ""

    def to_column(self) -> str:
        """The query log's text for this rule: the one place it is written."""
        if self.kind is RuleKind.UNKNOWN:
            return self.subject
        return f"{self.kind.value}:{self.subject}" if self.subject else self.kind.value

    @staticmethod
    def from_column(text: str) -> RuleRef:
        """The rule a query-log text names: the one place it is read. Text this version does
        not know (from an older or newer box) is an UNKNOWN rule, never an error."""
        return _from_column(text)


@lru_cache(maxsize=4096)
def _from_column(text: str) -> RuleRef:
    whole = _WHOLE.get(text)
    if whole is not None:
        return RuleRef(whole)
    first = text.find(":")
    if first > 0:
        second = text.find(":", first + 1)
        if second > 0 and (kind := _PREFIXED.get(text[:second])) is not None:
            return RuleRef(kind, text[second + 1 :])
        if (kind := _PREFIXED.get(text[:first])) is not None:
            return RuleRef(kind, text[first + 1 :])
    return RuleRef(RuleKind.UNKNOWN, text)


DEFAULT_RULE = RuleRef(RuleKind.DEFAULT)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""  # a sentence a parent can read
    rule: RuleRef = DEFAULT_RULE  # which rule decided, typed; see `RuleRef`
    child: str | None = None
    app: str | None = None
    category: str | None = None
    rewrite_to: str | None = None  # the CNAME target when action is REWRITE
    nxdomain: bool = (
        False  # answer NXDOMAIN whatever the block mode (Firefox canary, Private Relay)
    )
    # the query log's columns from this decision (action to app), made once, not per query
    columns: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        columns = (self.action.value, self.rule.to_column(), self.reason, self.category, self.app)
        object.__setattr__(self, "columns", columns)

    @property
    def blocked(self) -> bool:
        return self.action is Action.BLOCK

    @property
    def kind(self) -> RuleKind:
        return self.rule.kind


ALLOWED = Decision(Action.ALLOW)
