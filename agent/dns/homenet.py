"""The home's own IPv6 prefixes, read from the box's addresses.

A UK broadband router hands the home a global IPv6 prefix (a /64 on the LAN) that the ISP
chooses and may change; phones use addresses from it. It cannot be written in the config
ahead of time, so the DNS server adds the global prefixes the box itself has, at start, to
`allow_networks`. Read from /proc/net/if_inet6 (no extra package, no subprocess).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

IF_INET6 = Path("/proc/net/if_inet6")
SCOPE_GLOBAL = 0x00
IFA_F_DADFAILED = 0x08
ULA = ipaddress.IPv6Network("fc00::/7")


def parse_if_inet6(text: str) -> list[tuple[str, ipaddress.IPv6Interface]]:
    """(interface name, address with its prefix) for every line of /proc/net/if_inet6.

    A line: 32 hex digits of address, interface index, prefix length, scope, flags, name (the
    last four numbers in hex)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6 or len(parts[0]) != 32:
            continue
        try:
            packed = bytes.fromhex(parts[0])
            prefix_len = int(parts[2], 16)
            address = ipaddress.IPv6Address(packed)
            out.append((parts[5], ipaddress.IPv6Interface(f"{address}/{prefix_len}")))
        except ValueError:
            continue
    return out


def global_prefixes(text: str) -> tuple[ipaddress.IPv6Network, ...]:
    """The global-scope prefixes in an if_inet6 listing, each once, in order: not loopback,
    link-local or ULA (those are in the default allow_networks already), not a failed
    duplicate."""
    seen: dict[ipaddress.IPv6Network, None] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 6:
            continue
        try:
            scope, flags = int(parts[3], 16), int(parts[4], 16)
        except ValueError:
            continue
        if scope != SCOPE_GLOBAL or flags & IFA_F_DADFAILED:
            continue
        for _name, iface in parse_if_inet6(line):
            net = iface.network
            if (
                net.subnet_of(ULA) or net.prefixlen < 32
            ):  # ULA is allowed already; never a whole ISP
                continue
            if not (iface.ip.is_loopback or iface.ip.is_link_local or iface.ip.is_multicast):
                seen.setdefault(net, None)
    return tuple(seen)


def own_prefixes(path: Path = IF_INET6) -> tuple[ipaddress.IPv6Network, ...]:
    """The box's global IPv6 prefixes now; none when the box has no IPv6 (or no /proc)."""
    try:
        return global_prefixes(path.read_text())
    except OSError:
        return ()
