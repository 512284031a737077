"""Is another DHCP server on the home network? One DHCP DISCOVER, and the offers that come back.

Two DHCP servers on one network hand out clashing addresses and devices drop off the Wi-Fi,
so before HouseRules hands out addresses the router's own DHCP must be off. A DISCOVER is
broadcast from port 68 on the home interface (root, or CAP_NET_BIND_SERVICE and
CAP_NET_RAW); every server that offers an address is named. Nothing is accepted: the offers
are only read, so no address is taken.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import select
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER = 1, 2
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)


@dataclass(frozen=True)
class Offer:
    server: str  # the server identifier (option 54), else the address it came from
    offered: str


def discover_packet(mac: bytes, xid: int) -> bytes:
    head = struct.pack("!BBBBIHH", 1, 1, 6, 0, xid, 0, 0x8000)  # broadcast reply, please
    addresses = bytes(16)  # ciaddr, yiaddr, siaddr, giaddr
    chaddr = mac.ljust(16, b"\0")
    options = bytes([53, 1, DISCOVER, 55, 3, 1, 3, 6, 255])
    return head + addresses + chaddr + bytes(192) + MAGIC + options


def parse_offer(packet: bytes, xid: int, source: str) -> Offer | None:
    if len(packet) < 240 or packet[0] != 2 or packet[236:240] != MAGIC:
        return None
    if struct.unpack("!I", packet[4:8])[0] != xid:
        return None
    offered = str(ipaddress.IPv4Address(packet[16:20]))
    kind, server, i = None, source, 240
    while i < len(packet) and packet[i] != 255:
        code = packet[i]
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(packet):
            break
        size = packet[i + 1]
        value = packet[i + 2 : i + 2 + size]
        if code == 53 and size == 1:
            kind = value[0]
        elif code == 54 and size == 4:
            server = str(ipaddress.IPv4Address(value))
        i += 2 + size
    return Offer(server, offered) if kind == OFFER else None


def interface_mac(interface: str, sys_class: Path = Path("/sys/class/net")) -> bytes:
    text = (sys_class / interface / "address").read_text().strip()
    return bytes.fromhex(text.replace(":", ""))


def find_dhcp_servers(interface: str, timeout: float = 3.0) -> list[Offer]:
    """Every DHCP server that answers a DISCOVER on `interface` within `timeout` seconds.

    Raises OSError when the probe cannot be sent (not root, no such interface)."""
    xid = secrets.randbits(32)
    packet = discover_packet(interface_mac(interface), xid)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode() + b"\0")
        sock.bind(("0.0.0.0", 68))
        sock.sendto(packet, ("255.255.255.255", 67))
        found: dict[str, Offer] = {}
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data, (source, _port) = sock.recvfrom(4096)
            offer = parse_offer(data, xid, source)
            if offer is not None:
                found.setdefault(offer.server, offer)
        return list(found.values())


def can_probe() -> bool:
    return os.geteuid() == 0


def interface_ipv4(interface: str) -> str | None:
    """The interface's IPv4 address (SIOCGIFADDR), None when it has none."""
    import fcntl

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", interface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(raw[20:24])


def others(interface: str, timeout: float = 3.0) -> list[Offer]:
    """The DHCP servers on `interface` other than this box (whose own dnsmasq may answer)."""
    mine = interface_ipv4(interface)
    return [o for o in find_dhcp_servers(interface, timeout) if o.server != mine]
