"""The kernel's neighbour table: which MAC address is behind each IP address on the LAN.

Read off the query path (the DNS runner refreshes it every few seconds and swaps it into the
policy), because a device is known by its MAC first: IP addresses move between devices, MACs
mostly do not. Only devices on the box's own network segment appear here; behind a router
(or for the box itself) there is no entry and the rules fall back to the IP address.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)

PROC_ARP = Path("/proc/net/arp")
IP_NEIGH = ("ip", "neigh", "show")
NO_MAC = "00:00:00:00:00:00"
ATF_COM = 0x2  # /proc/net/arp flag: the entry is complete
_UNUSABLE_STATES = frozenset({"FAILED", "INCOMPLETE"})


def parse_proc_arp(text: str) -> dict[str, str]:
    """IP -> MAC from /proc/net/arp (IPv4 only); incomplete entries are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines()[1:]:  # the first line is the header
        fields = line.split()
        if len(fields) < 4:
            continue
        ip, flags, mac = fields[0], fields[2], fields[3].lower()
        try:
            complete = int(flags, 16) & ATF_COM
        except ValueError:
            continue
        if complete and _is_mac(mac):
            out[ip] = mac
    return out


def parse_ip_neigh(text: str) -> dict[str, str]:
    """IP -> MAC from `ip neigh show` (IPv4 and IPv6); FAILED and INCOMPLETE are skipped."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.split()
        if not fields or "lladdr" not in fields or _UNUSABLE_STATES & set(fields):
            continue
        at = fields.index("lladdr")
        if at + 1 >= len(fields):
            continue
        ip, mac = fields[0].split("%")[0], fields[at + 1].lower()
        if _is_mac(mac):
            out[ip] = mac
    return out


def read_neighbours(
    arp_path: Path = PROC_ARP, command: Sequence[str] = IP_NEIGH, timeout: float = 1.0
) -> dict[str, str]:
    """IP -> MAC from /proc/net/arp and, where `ip` exists, `ip neigh show`. Never raises: a
    source that fails is logged and left out, so the worst case is {} (rules fall back to IPs)."""
    found: dict[str, str] = {}
    try:
        found.update(parse_proc_arp(arp_path.read_text(encoding="ascii", errors="replace")))
    except OSError as exc:
        log.warning("cannot read the neighbour table %s: %s", arp_path, exc.strerror or exc)
    program = shutil.which(command[0]) if command else None
    if program is None:
        return found
    try:
        done = subprocess.run(
            [program, *command[1:]], capture_output=True, text=True, timeout=timeout, check=True
        )
        found.update(parse_ip_neigh(done.stdout))
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("cannot read the neighbour table with %s: %s", " ".join(command), exc)
    return found


def _is_mac(text: str) -> bool:
    parts = text.split(":")
    return (
        text != NO_MAC
        and len(parts) == 6
        and all(len(p) == 2 and all(c in "0123456789abcdef" for c in p) for p in parts)
    )
