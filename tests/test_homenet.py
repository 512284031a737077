"""The box's own IPv6 prefixes, from a /proc/net/if_inet6 listing."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from agent.dns import homenet

# lo, a ULA, a link-local, two addresses in one global /64 (SLAAC and privacy), a /56 on a
# second interface, and a duplicate-address failure (flags 0x08) that must not count.
LISTING = """\
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 02 40 00 80     eth0
fe800000000000000211223344556677 02 40 20 80     eth0
20010db8000012340211223344556677 02 40 00 00     eth0
20010db80000123498765432abcdef01 02 40 00 01     eth0
20010db8000056000000000000000001 03 38 00 80    wlan0
20010db8000099990000000000000001 02 40 00 08     eth0
garbage line
"""


def test_global_prefixes_are_each_prefix_the_box_has_once() -> None:
    assert homenet.global_prefixes(LISTING) == (
        ipaddress.IPv6Network("2001:db8:0:1234::/64"),
        ipaddress.IPv6Network("2001:db8:0:5600::/56"),
    )


def test_every_address_is_read_with_its_interface() -> None:
    read = homenet.parse_if_inet6(LISTING)
    assert ("lo", ipaddress.IPv6Interface("::1/128")) in read
    assert ("eth0", ipaddress.IPv6Interface("fe80::211:2233:4455:6677/64")) in read
    assert len(read) == 7


def test_no_ipv6_at_all_is_no_prefixes(tmp_path: Path) -> None:
    assert homenet.own_prefixes(tmp_path / "missing") == ()
    empty = tmp_path / "if_inet6"
    empty.write_text("")
    assert homenet.own_prefixes(empty) == ()
