"""Optional DHCP: HouseRules hands out the home's addresses through dnsmasq, DHCP only.

Many broadband routers will not hand out another DNS server; then the box must run the
home's DHCP for every device to be told "ask the box". dnsmasq does the DHCP (`port=0`: no
DNS, HouseRules answers that); HouseRules writes its settings from `[dhcp]`, starts it, starts
it again with a back-off if it stops, and restarts it when the settings change. Its lease
file tells the jobs process which device has which address and what it calls itself
(`read_leases`): a new lease is a new device on the Devices page.
"""

from __future__ import annotations

import getpass
import ipaddress
import logging
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.config import Config, DhcpConfig
from agent.devicenames import clean_hostname
from agent.rules.household import Device

log = logging.getLogger(__name__)
RESTART_SECONDS = (1, 5, 30, 120)
CONF_NAME, LEASES_NAME = "dnsmasq.conf", "dnsmasq.leases"


def dnsmasq_conf(
    dhcp: DhcpConfig,
    leases: Path,
    user: str | None = None,
    reserved: Iterable[tuple[str, str]] = (),
) -> str:
    """dnsmasq's settings: DHCP only, the box named as DNS server (IPv4 and IPv6), and the
    addresses kept for devices on the Devices page (`reserved`: (MAC, IPv4) pairs)."""
    lines = [
        "# Written by HouseRules from [dhcp] in its config: changes here are overwritten.",
        "port=0",  # no DNS: HouseRules answers it
        f"interface={dhcp.interface}",
        "bind-dynamic",
        "except-interface=lo",
        f"dhcp-range={dhcp.range_start},{dhcp.range_end},{dhcp.netmask},{dhcp.lease_hours}h",
        f"dhcp-option=option:router,{dhcp.router}",
        "dhcp-option=option:dns-server,0.0.0.0",  # 0.0.0.0: this box's own address
        f"dhcp-leasefile={leases}",
        "dhcp-authoritative",
        "no-resolv",
        "no-hosts",
        "keep-in-foreground",
        "pid-file=",
        "log-facility=-",
    ]
    if dhcp.ipv6_ra:
        lines += [
            "enable-ra",
            f"dhcp-range=::,constructor:{dhcp.interface},ra-stateless,{dhcp.lease_hours}h",
            "dhcp-option=option6:dns-server,[::]",  # [::]: this box's own address
        ]
    net = ipaddress.IPv4Network(f"{dhcp.router}/{dhcp.netmask}", strict=False)
    for mac, ip in sorted(reserved):
        if ipaddress.ip_address(ip) in net:  # an address from another network is no use here
            lines.append(f"dhcp-host={mac},{ip}")
    if user:
        lines.append(f"user={user}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Lease:
    expires: float  # unix time, 0 for never
    mac: str
    ip: str
    hostname: str | None


def read_leases(path: Path) -> list[Lease]:
    """dnsmasq's lease file: `expiry mac ip hostname client-id` per line ("*" for none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].isdigit() or ":" in parts[2]:
            continue  # IPv6 leases (DHCPv6) have no MAC in this column: not used
        name = None if parts[3] == "*" else clean_hostname(parts[3])
        out.append(Lease(float(parts[0]), parts[1].lower(), parts[2], name))
    return out


class Dnsmasq:
    """dnsmasq as HouseRules' child: started, watched, restarted on a change of settings."""

    def __init__(
        self,
        cfg: Config,
        popen: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
        monotonic: Callable[[], float] = time.monotonic,
        devices: Callable[[], Iterable[Device]] = tuple,
    ) -> None:
        """`devices`: the household's devices now (the addresses kept for them)."""
        self.dhcp = cfg.dhcp
        self.folder = cfg.resolve(cfg.dhcp.state_dir)
        self.conf, self.leases = self.folder / CONF_NAME, self.folder / LEASES_NAME
        self.popen, self.monotonic, self.devices = popen, monotonic, devices
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._next_start = 0.0
        self._written = ""

    def settings(self) -> str:
        reserved = [(d.mac, d.reserved_ip) for d in self.devices() if d.mac and d.reserved_ip]
        return dnsmasq_conf(self.dhcp, self.leases, _user(), reserved)

    def look_after(self) -> None:
        """Called every few seconds: start it, restart it (with back-off), apply new settings."""
        text = self.settings()
        if text != self._written:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.conf.write_text(text)
            self.leases.touch(exist_ok=True)
            if self._written:
                log.info("DHCP settings changed: restarting dnsmasq")
                self.stop()
                self.process = None
            self._written = text
        proc = self.process
        if proc is not None and proc.poll() is None:
            return
        if proc is not None:
            wait = RESTART_SECONDS[min(self.restarts, len(RESTART_SECONDS) - 1)]
            if self._next_start == 0.0:
                log.error(
                    "dnsmasq (DHCP) stopped (exit %s); starting it in %ds", proc.returncode, wait
                )
                self._next_start = self.monotonic() + wait
            if self.monotonic() < self._next_start:
                return
            self.restarts += 1
        self._next_start = 0.0
        command = [self.dhcp.dnsmasq, f"--conf-file={self.conf}"]
        try:
            self.process = self.popen(command, stdin=subprocess.DEVNULL)
        except OSError as exc:
            log.error("cannot start dnsmasq for DHCP (%s): %s", self.dhcp.dnsmasq, exc)
            self.process = None
            self._written = ""  # try again on the next call
            return
        log.info("DHCP: dnsmasq handing out %s to %s", self.dhcp.range_start, self.dhcp.range_end)

    def stop(self) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _user() -> str | None:
    """dnsmasq started as root drops to "nobody", who could not write our lease file: keep it
    as the user HouseRules runs as."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None
