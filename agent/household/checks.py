"""The checks a household value passes before it is stored: names, domains, addresses, times.

Pure functions: each returns the value in the one spelling the box stores, or raises
`HouseholdError` with a one-line message a parent can act on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

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


ADULT_AGE = 18


class NeedsConfirmation(HouseholdError):
    """A change that is allowed only when a parent says they mean it."""


def check_born(born: date, today: date, *, adult_ok: bool) -> int:
    """The age a birth date gives on `today`; a child is under 18 unless `adult_ok`."""
    if born > today or born.year < 1900:
        raise HouseholdError(f"{born.isoformat()} is not a possible date of birth")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age >= ADULT_AGE and not adult_ok:
        raise NeedsConfirmation(
            f"born {born.isoformat()} makes them {age}: the under-18 protections would stop. "
            "A child is added under 18; for an adult, mark their devices as an adult's"
        )
    return age


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


@dataclass(frozen=True)
class CheckedSchedule:
    """A schedule's values in the spelling the box stores."""

    name: str
    days: frozenset[int]
    start: time
    end: time
    block: frozenset[str]
    allow: frozenset[str]


def check_schedule(
    name: str,
    days: Iterable[int],
    start: time,
    end: time,
    *,
    block_all: bool,
    block: Iterable[str],
    allow: Iterable[str],
    all_day: bool,
) -> CheckedSchedule:
    """A weekly window's values, checked: at least one day, two different times unless it is
    meant to be all day (then 00:00 to 00:00), something to block, domains that are domains."""
    name = check_name(name, "A schedule's name")
    day_set = frozenset(days)
    if not day_set or not day_set <= set(range(7)):
        raise HouseholdError("a schedule needs at least one day, Monday (0) to Sunday (6)")
    if all_day:
        start = end = time(0)
    elif start == end:
        raise HouseholdError(
            f"a schedule from {start:%H:%M} to {end:%H:%M} would be on all day, every day it "
            "runs: choose two different times, or say it is meant to be all day"
        )
    blocked = frozenset(b.strip().lower() for b in block if b.strip())
    if not block_all and not blocked:
        raise HouseholdError("a schedule needs to block everything or at least one thing")
    return CheckedSchedule(name, day_set, start, end, blocked, frozenset(map(check_domain, allow)))
