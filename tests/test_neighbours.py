"""Reading the kernel's neighbour table: /proc/net/arp and `ip neigh show`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.dns.neighbours import parse_ip_neigh, parse_proc_arp, read_neighbours

PROC_ARP = """\
IP address       HW type     Flags       HW address            Mask     Device
192.168.1.1      0x1         0x2         a4:91:b1:0c:22:e1     *        eth0
192.168.1.23     0x1         0x2         3C:22:FB:7A:10:05     *        eth0
192.168.1.40     0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.41     0x1         0x6         f2:18:98:aa:01:7c     *        wlan0
10.0.0.9         0x1         0x2         00:00:00:00:00:00     *        eth1
garbage line
"""

IP_NEIGH = """\
192.168.1.1 dev eth0 lladdr a4:91:b1:0c:22:e1 REACHABLE
192.168.1.23 dev eth0 lladdr 3c:22:fb:7a:10:05 STALE
192.168.1.40 dev eth0  INCOMPLETE
192.168.1.42 dev eth0  FAILED
192.168.1.43 dev eth0 lladdr 5e:01:02:03:04:05 FAILED
192.168.1.44 dev wlan0 lladdr 00:00:00:00:00:00 NOARP
fe80::1 dev eth0 lladdr a4:91:b1:0c:22:e1 router REACHABLE
fe80::c8d:6e7b:2f1:9a10 dev wlan0 lladdr F2:18:98:AA:01:7C DELAY
2a00:23c6:1234:5600::7 dev wlan0 lladdr f2:18:98:aa:01:7c STALE
192.168.1.60 dev eth0 lladdr 6a:00:00:00:00:60 PERMANENT
"""


def test_parse_proc_arp_keeps_complete_entries() -> None:
    assert parse_proc_arp(PROC_ARP) == {
        "192.168.1.1": "a4:91:b1:0c:22:e1",
        "192.168.1.23": "3c:22:fb:7a:10:05",  # lower-cased
        "192.168.1.41": "f2:18:98:aa:01:7c",  # complete + permanent flags
    }


def test_parse_proc_arp_of_nothing() -> None:
    assert parse_proc_arp("") == {}
    assert parse_proc_arp(PROC_ARP.splitlines()[0]) == {}


def test_parse_ip_neigh_skips_failed_incomplete_and_zero_macs() -> None:
    assert parse_ip_neigh(IP_NEIGH) == {
        "192.168.1.1": "a4:91:b1:0c:22:e1",
        "192.168.1.23": "3c:22:fb:7a:10:05",
        "fe80::1": "a4:91:b1:0c:22:e1",
        "fe80::c8d:6e7b:2f1:9a10": "f2:18:98:aa:01:7c",
        "2a00:23c6:1234:5600::7": "f2:18:98:aa:01:7c",
        "192.168.1.60": "6a:00:00:00:00:60",
    }


def test_read_neighbours_merges_both_sources(tmp_path: Path) -> None:
    arp = tmp_path / "arp"
    arp.write_text(PROC_ARP)
    script = tmp_path / "fake-ip"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{IP_NEIGH}EOF\n")
    script.chmod(0o755)
    found = read_neighbours(arp, (str(script), "neigh", "show"))
    assert found["192.168.1.41"] == "f2:18:98:aa:01:7c"  # only in /proc/net/arp
    assert found["2a00:23c6:1234:5600::7"] == "f2:18:98:aa:01:7c"  # only from ip neigh
    assert len(found) == 7


def test_read_neighbours_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    failing = tmp_path / "failing-ip"
    failing.write_text("#!/bin/sh\nexit 1\n")
    failing.chmod(0o755)
    with caplog.at_level(logging.WARNING, logger="agent.dns.neighbours"):
        assert read_neighbours(tmp_path / "missing", (str(failing), "neigh")) == {}
    assert "cannot read the neighbour table" in caplog.text
    assert read_neighbours(tmp_path / "missing", ("no-such-program-here",)) == {}


def test_read_neighbours_gives_up_on_a_slow_command(tmp_path: Path) -> None:
    arp = tmp_path / "arp"
    arp.write_text(PROC_ARP)
    slow = tmp_path / "slow-ip"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    assert read_neighbours(arp, (str(slow),), timeout=0.05) == parse_proc_arp(PROC_ARP)
