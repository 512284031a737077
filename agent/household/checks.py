"""The checks a household value passes before it is stored: names, domains, addresses, times.

Pure functions: each returns the value in the one spelling the box stores, or raises
`HouseholdError` with a one-line message a parent can act on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime

from agent.rules.household import KINDS, VERBS, YOUTUBE_LEVELS

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}$")
_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")


class HouseholdError(ValueError):
    """A mistake in what was asked (unknown child, bad MAC...); the message is one line."""


def check_name(text: str, what: str) -> str:
    name = " ".join(str(text).split())
    if not name or len(name) > 40 or "," in name:
        raise HouseholdError(f"{what} must be 1 to 40 characters with no commas, not {text!r}")
    return name


def check_domain(text: str) -> str:
    domain = text.strip().lower().rstrip(".").removeprefix("*.").removeprefix(".")
    if not _DOMAIN.match(domain):
        raise HouseholdError(f"{text!r} is not a domain like example.com")
    return domain


def normalise_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise HouseholdError(f"{text!r} is not an IP address") from None


def normalise_mac(text: str) -> str:
    """aa:bb:cc:dd:ee:ff from any usual spelling (dashes, dots, upper case)."""
    digits = text.strip().lower().replace(":", "").replace("-", "").replace(".", "")
    if not _MAC_HEX.match(digits) or digits == "0" * 12:
        raise HouseholdError(f"{text!r} is not a MAC address like aa:bb:cc:dd:ee:ff")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware moment in UTC (SQLModel stores aware datetimes as UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise HouseholdError("times must carry a timezone")
    return moment.astimezone(UTC)


def check_born(born: date, today: date | None) -> date:
    """A possible date of birth; `today` (the box's date) rules out one in the future."""
    if born.year < 1900 or (today is not None and born > today):
        raise HouseholdError(f"{born.isoformat()} is not a possible date of birth")
    return born


def check_youtube_level(level: str | None) -> str | None:
    """strict, moderate or off; None means by age."""
    if level not in (None, *YOUTUBE_LEVELS):
        raise HouseholdError(f"YouTube level is strict, moderate or off, not {level!r}")
    return level


def check_rule(verb: str, kind: str, value: str) -> str:
    """An allow or block rule about an app id, a category or a domain: its value as stored."""
    if verb not in VERBS or kind not in KINDS:
        raise HouseholdError(f"a rule is allow|block app|category|domain, not {verb} {kind}")
    value = check_domain(value) if kind == "domain" else value.strip().lower()
    if not value or "," in value or " " in value:
        raise HouseholdError(f"{value!r} is not a valid {kind}")
    return value


def check_schedule(
    name: str, days: Iterable[int], block_all: bool, block: Iterable[str], allow: Iterable[str]
) -> tuple[str, set[int], set[str], set[str]]:
    """A weekly window's name, days, what it blocks and what it still allows, as stored."""
    name = check_name(name, "A schedule's name")
    day_set = set(days)
    if not day_set or not day_set <= set(range(7)):
        raise HouseholdError("a schedule needs at least one day, Monday (0) to Sunday (6)")
    blocked = {b.strip().lower() for b in block if b.strip()}
    if not block_all and not blocked:
        raise HouseholdError("a schedule needs to block everything or at least one thing")
    return name, day_set, blocked, {check_domain(d) for d in allow}
