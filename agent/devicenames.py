"""Names a parent can recognise a device by: what it calls itself, or who made it.

A device's own name reaches the box from its DHCP request (when HouseRules hands out
addresses) or its mDNS announcements ("Sams-iPad.local"). It is the device's say-so, shown as
a hint to the parent and never trusted for anything: rules follow the owner a parent chose.
The maker comes from the first half of the MAC (the IEEE's OUI registry, shipped inside the
`netaddr` package, so no download). A private ("randomised") MAC names no maker: phones make
one up per network, and may change it.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agent.rules.household import Device

MAX_HOSTNAME = 63
_UNSAFE = re.compile(r"[^\w .'’\-()]", re.UNICODE)
_SUFFIXES = {
    "inc", "inc.", "ltd", "ltd.", "co", "co.", "corp", "corp.", "corporation", "llc", "gmbh",
    "limited", "technologies", "technology", "electronics", "international", "mobile",
    "communication", "communications", "co.ltd", "co.,ltd", "ag", "s.a.", "sa", "bv", "b.v.",
}  # fmt: skip


def is_private(mac: str | None) -> bool:
    """A locally administered MAC: a private Wi-Fi address the device made up, which may
    change (iOS "Private Wi-Fi Address", Android "Use randomised MAC")."""
    try:
        return mac is not None and int(mac[:2], 16) & 0x02 == 0x02
    except ValueError:
        return False


def maker(mac: str | None) -> str | None:
    """Who made the network chip, in a few words ("Apple", "Samsung"), when the MAC says."""
    if mac is None or is_private(mac):
        return None
    return _maker(mac.lower().replace("-", ":")[:8])


@lru_cache(maxsize=1024)
def _maker(prefix: str) -> str | None:
    try:
        from netaddr import EUI, AddrFormatError, NotRegisteredError
    except ImportError:
        return None
    try:
        org = EUI(prefix + ":00:00:00").oui.registration().org
    except (NotRegisteredError, AddrFormatError, ValueError, IndexError):
        return None
    return short_maker(str(org))


def short_maker(org: str) -> str:
    """ "Samsung Electronics Co.,Ltd" -> "Samsung"; "Apple, Inc." -> "Apple"."""
    words = org.split(",")[0].split()
    while len(words) > 1 and words[-1].lower() in _SUFFIXES:
        words.pop()
    return " ".join(words) or org


def clean_hostname(raw: str | None) -> str | None:
    """A device's own name made safe to show: printable, short, ".local" dropped."""
    if not raw:
        return None
    name = raw.strip().removesuffix(".").removesuffix(".local")
    name = _UNSAFE.sub("", name.replace("-", " ") if " " not in name else name)
    name = " ".join(name.split())[:MAX_HOSTNAME].strip(". ")
    return name or None


def recognisable(device: Device) -> str:
    """The name to show: the parent's, else the device's own, else its maker."""
    if device.name:
        return device.name
    if device.hostname:
        return device.hostname
    made = maker(device.mac)
    if made:
        return f"{made} device"
    if is_private(device.mac):
        return "Device with a private address"
    return device.label
