"""Who is asking: the device behind a proxy connection, and whose house rules apply to it.

The same lookups the rules engine makes (by MAC from the neighbour table, then by IP), read
from the same `Policy` snapshot, so the proxy and the DNS always agree on who a device is.
Only a device a parent marked "inspect" is ever looked into.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from agent.rules.household import Child, Device
from agent.rules.policy import Policy


@dataclass(frozen=True, slots=True)
class Asker:
    ip: str
    mac: str | None = None
    device: Device | None = None
    child: Child | None = None  # None: an adult, or a child of unknown age (no children yet)
    adult: bool = False

    @property
    def inspected(self) -> bool:
        return self.device is not None and self.device.inspect

    @property
    def key(self) -> str:
        """The device as events name it: MAC, else IP address."""
        return self.mac or self.ip

    @property
    def child_name(self) -> str | None:
        return self.child.name if self.child is not None else None


def client_ip(peername: tuple | None) -> str | None:
    """The client's address as the household stores it ("::ffff:192.0.2.1" -> "192.0.2.1")."""
    if not peername:
        return None
    host = str(peername[0]).split("%")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


def asker(policy: Policy, ip: str) -> Asker:
    household = policy.household
    mac = policy.neighbours.get(ip)
    if household is None:
        return Asker(ip, mac)
    device = household.device_for(ip, mac)
    child, adult = household.whose_rules(device, policy.rules.unassigned)
    return Asker(ip, mac, device, child, adult)
