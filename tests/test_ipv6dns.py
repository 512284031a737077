"""doctor's IPv6 check: another IPv6 DNS server handed out on the LAN, found and explained."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

from agent.config import HostPort
from agent.ops import doctor, ipv6dns
from agent.ops.doctor import Ipv6Facts

RDISC6 = """\
Soliciting ff02::2 (ff02::2) on eth0...

Hop limit                 :           64 (      0x40)
Stateful address conf.    :           No
Prefix                   : 2001:db8:0:1234::/64
 On-link                 :          Yes
Recursive DNS server     : 2001:db8:0:1234::1
 DNS server lifetime     :         1800 (0x00000708) seconds
Recursive DNS server     : fe80::1
 from fe80::1
"""
NMCLI = "IP6.DNS[1]:fd00\\:\\:1\nIP6.DNS[2]:2001\\:db8\\:0\\:1234\\:\\:1\n"
PI = (HostPort("0.0.0.0", 53), HostPort("::", 53))
V4_ONLY = (HostPort("0.0.0.0", 53),)
BOX = ["::1", "fe80::2", "2001:db8:0:1234::53"]


def test_each_source_is_read() -> None:
    assert ipv6dns.rdisc6_servers(RDISC6) == ["2001:db8:0:1234::1", "fe80::1"]
    assert ipv6dns.nmcli_servers(NMCLI) == ["fd00::1", "2001:db8:0:1234::1"]
    resolv = "nameserver 192.168.1.1\nnameserver fd00::1\n# nameserver fd00::9\n"
    assert ipv6dns.nameservers(resolv) == ["fd00::1"]


def test_learned_servers_gathers_every_source_once(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver ::1\nnameserver fd00::1\n")
    outputs = {"rdisc6": RDISC6, "nmcli": NMCLI}

    def run(cmd: list[str], **kw: object) -> SimpleNamespace:
        return SimpleNamespace(returncode=0, stdout=outputs[cmd[0]])

    found, sources = ipv6dns.learned_servers(
        "eth0", run=run, files=[resolv, tmp_path / "absent"], which=lambda n: "/usr/bin/" + n
    )
    assert found == ["2001:db8:0:1234::1", "fe80::1", "fd00::1", "::1"]
    assert sources == ["rdisc6", "nm", str(resolv)]

    def broken(cmd: list[str], **kw: object) -> SimpleNamespace:
        raise subprocess.TimeoutExpired(cmd, 4)

    assert ipv6dns.learned_servers("eth0", run=broken, files=[], which=lambda n: n) == ([], [])


def test_the_routers_own_ipv6_dns_is_a_problem_with_a_fix_in_plain_words() -> None:
    facts = Ipv6Facts(advertised=["2001:db8:0:1234::1", "::1"], own=BOX)
    found = doctor.check_ipv6(PI, facts, "/etc/houserules/config.toml")
    assert found.ok is False
    assert "told to ask 2001:db8:0:1234::1 for names over IPv6" in found.problem
    assert "(2001:db8:0:1234::53)" in found.fix  # the box's own address, to type in
    assert "BT Smart Hub" in found.fix and "[dhcp]" in found.fix


def test_the_box_itself_or_a_local_stub_is_fine() -> None:
    facts = Ipv6Facts(advertised=["2001:db8:0:1234::53", "::1"], own=BOX)
    found = doctor.check_ipv6(PI, facts, "x")
    assert (
        found.ok is True
        and found.detail == "no other IPv6 DNS server is handed out on this network"
    )


def test_ipv6_on_the_network_with_houserules_on_ipv4_only_is_a_problem() -> None:
    found = doctor.check_ipv6(V4_ONLY, Ipv6Facts(advertised=[], own=BOX), "/etc/hr.toml")
    assert found.ok is False and "listens on IPv4 only" in found.problem
    assert 'set listen = ["0.0.0.0:53", "[::]:53"]' in found.fix


def test_a_network_without_ipv6_is_fine() -> None:
    found = doctor.check_ipv6(V4_ONLY, Ipv6Facts(advertised=[], own=["::1", "fe80::2"]), "x")
    assert found.ok is True and "does not hand out IPv6" in found.detail


# -- DHCP (same shape: facts handed in, a finding out) ---------------------------------------


def _cfg(enabled: bool):
    from dataclasses import replace

    from agent.config import Config, DhcpConfig

    return Config(dhcp=replace(DhcpConfig(), enabled=enabled), source="/etc/houserules/config.toml")


ROUTER = [doctor.dhcpprobe.Offer("192.168.1.1", "192.168.1.150")]


def test_dhcp_on_beside_the_routers_is_a_problem_with_steps_to_turn_the_routers_off() -> None:
    found = doctor.check_dhcp(_cfg(True), lambda interface: ROUTER)
    assert found.ok is False and "Another DHCP server (192.168.1.1)" in found.problem
    assert "3. Switch the router's DHCP server off and save." in found.fix
    assert "sudo systemctl restart houserules" in found.fix


def test_dhcp_findings_when_all_is_well_or_cannot_tell() -> None:
    alone = doctor.check_dhcp(_cfg(True), lambda interface: [])
    assert alone.ok is True and "the only DHCP server on eth0" in alone.detail
    router = doctor.check_dhcp(_cfg(False), lambda interface: ROUTER)
    assert router.ok is True and "the router (192.168.1.1) hands out addresses" in router.detail

    def refused(interface: str) -> list:
        raise PermissionError("only root can look for DHCP servers")

    unsure = doctor.check_dhcp(_cfg(False), refused)
    assert unsure.ok is None and "only root" in unsure.problem
