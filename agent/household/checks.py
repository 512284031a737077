"""The checks a household value passes before it is stored: names, domains, addresses, times.

Pure functions: each returns the value in the one spelling the box stores, or raises
`HouseholdError` with a one-line message a parent can act on.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime

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
