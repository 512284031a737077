"""`doctor`'s IPv6 check: is another IPv6 DNS server handed out on the home network?

The classic leak: the router advertises its own IPv6 DNS server (RDNSS in its router
advertisements, or DHCPv6), phones prefer IPv6, and they never ask the box. The box learns the
same advertisements as every device, so the servers it learned itself are the ones the phones
are told about. Sources, each optional: `rdisc6` (package ndisc6) asking the router directly,
NetworkManager, systemd-resolved, /etc/resolv.conf.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from agent.config import HostPort

RESOLV_FILES = (Path("/etc/resolv.conf"), Path("/run/systemd/resolve/resolv.conf"))
Run = Callable[..., Any]


def nameservers(text: str) -> list[str]:
    """IPv6 `nameserver` lines of a resolv.conf."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and ":" in parts[1]:
            out.append(parts[1])
    return out


def rdisc6_servers(text: str) -> list[str]:
    """The "Recursive DNS server : addr" lines of `rdisc6` output."""
    out = []
    for line in text.splitlines():
        label, _, value = line.partition(":")
        if label.strip().lower() == "recursive dns server":
            out.append(value.strip())
    return out


def nmcli_servers(text: str) -> list[str]:
    """`nmcli -t -f IP6.DNS device show` lines: IP6.DNS[1]:fd00::1 (colons unescaped)."""
    out = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("IP6.DNS") and value:
            out.append(value.replace("\\:", ":"))
    return out


def learned_servers(
    interface: str | None,
    run: Run = subprocess.run,
    files: Sequence[Path] = RESOLV_FILES,
    which: Callable[[str], str | None] = shutil.which,
) -> tuple[list[str], list[str]]:
    """(IPv6 DNS servers advertised on the LAN, where they were seen)."""
    found: list[str] = []
    sources: list[str] = []

    def take(servers: Iterable[str], source: str) -> None:
        new = [s for s in servers if s not in found]
        if new:
            found.extend(new)
            sources.append(source)

    if interface and which("rdisc6"):
        take(rdisc6_servers(_output(run, ["rdisc6", "-1", "-w", "1000", interface])), "rdisc6")
    if which("nmcli"):
        take(nmcli_servers(_output(run, ["nmcli", "-t", "-f", "IP6.DNS", "device", "show"])), "nm")
    for path in files:
        try:
            take(nameservers(path.read_text()), str(path))
        except OSError:
            continue
    return found, sources


def _output(run: Run, cmd: list[str]) -> str:
    try:
        done = run(cmd, capture_output=True, text=True, timeout=4, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def others(servers: Iterable[str], own: Iterable[str]) -> list[str]:
    """The advertised servers that are not this box (nor loopback: a local stub resolver)."""
    mine = {_ip(a) for a in own}
    out = []
    for s in servers:
        ip = _ip(s)
        if ip is None or ip.is_loopback or ip in mine:
            continue
        out.append(str(ip))
    return out


def _ip(text: str) -> ipaddress.IPv6Address | ipaddress.IPv4Address | None:
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None


def listens_on_ipv6(listen: Sequence[HostPort]) -> bool:
    return any(":" in hp.host and not ipaddress.ip_address(hp.host).is_loopback for hp in listen)


ROUTERS = (
    "Many broadband hubs from UK providers (BT Smart Hub, Sky Hub, Virgin Media Hub among them) "
    "do not let you choose the DNS server they hand to devices. If yours has no such setting, "
    "either switch IPv6 off for the home network in the hub's settings if it offers that, or let "
    "HouseRules hand out addresses itself ([dhcp] in the config, with the hub's own DHCP "
    "switched off), so every device is told to ask the box."
)


def advice(box_v6: str | None) -> str:
    where = f" ({box_v6})" if box_v6 else ""
    return (
        "Open your router's settings page and look for IPv6, then for the DNS server it "
        "advertises (it may be called RDNSS, DHCPv6 DNS or IPv6 DNS). Set it to this box's IPv6 "
        f"address{where}. " + ROUTERS
    )
