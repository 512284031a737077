"""The names devices announce over mDNS ("Sams-iPad.local"), asked for politely.

One reverse lookup per device address (`40.1.168.192.in-addr.arpa PTR`), sent to the mDNS
group from an ordinary port: devices answer such "legacy unicast" questions straight back to
the asker, so nothing listens on port 5353 and nothing disturbs Avahi. The jobs process asks
for devices that have no name yet; what comes back is a hint shown to the parent
(`agent.devicenames`), never trusted for a rule.
"""

from __future__ import annotations

import ipaddress
import select
import socket
import time
from collections.abc import Iterable

from dnslib import QTYPE, DNSRecord

GROUP, PORT = "224.0.0.251", 5353


def reverse_name(ip: str) -> str:
    return ipaddress.IPv4Address(ip).reverse_pointer + "."


def lookup_names(
    ips: Iterable[str], timeout: float = 2.0, interface_ip: str | None = None
) -> dict[str, str]:
    """IPv4 address -> the .local name its device gives, for those that answer in time."""
    wanted = {reverse_name(ip): ip for ip in ips if ipaddress.ip_address(ip).version == 4}
    if not wanted:
        return {}
    found: dict[str, str] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        if interface_ip:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_ip)
            )
        sock.bind(("0.0.0.0", 0))
        for name in wanted:
            try:
                sock.sendto(DNSRecord.question(name, "PTR").pack(), (GROUP, PORT))
            except OSError:
                return found  # no multicast route: no mDNS here
        deadline = time.monotonic() + timeout
        while len(found) < len(wanted) and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            data, (source, _port) = sock.recvfrom(9000)
            for ip, host in answers(data).items():
                if ip in wanted.values() and ip == source:  # only a device names itself
                    found[ip] = host
    return found


def answers(packet: bytes) -> dict[str, str]:
    """PTR answers in an mDNS reply: address -> name."""
    try:
        reply = DNSRecord.parse(packet)
    except Exception:  # anything on the network may send anything
        return {}
    out = {}
    for rr in (*reply.rr, *reply.ar):
        if rr.rtype != QTYPE.PTR:
            continue
        owner = str(rr.rname).lower()
        if not owner.endswith(".in-addr.arpa."):
            continue
        octets = owner.removesuffix(".in-addr.arpa.").split(".")
        if len(octets) != 4:
            continue
        try:
            ip = str(ipaddress.IPv4Address(".".join(reversed(octets))))
        except ValueError:
            continue
        out[ip] = str(rr.rdata.label).rstrip(".")
    return out
