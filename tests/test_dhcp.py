"""Optional DHCP: dnsmasq's settings, its lease file, its supervision, the DHCP probe, and the
whole thing for real in network namespaces the test makes: a real DHCP client gets a lease
naming the box as DNS, asks the box over the veth, appears on the Devices page with its name
and MAC, and the rules of the child it is given to apply to it by MAC."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from agent.config import Config, DhcpConfig
from agent.ops import dhcp, dhcpprobe
from agent.store import household as store
from agent.store.db import make_engine
from agent.store.migrate import migrate

from agenttools import until, write_config

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CONF = DhcpConfig(
    enabled=True,
    interface="vbox",
    range_start="198.51.100.50",
    range_end="198.51.100.60",
    router="198.51.100.1",
    lease_hours=2,
)


def test_dnsmasq_is_told_dhcp_only_and_to_name_the_box_as_dns(tmp_path):
    text = dhcp.dnsmasq_conf(CONF, tmp_path / "leases", "houserules")
    lines = text.splitlines()
    assert "port=0" in lines  # no DNS from dnsmasq: HouseRules answers it
    assert "dhcp-range=198.51.100.50,198.51.100.60,255.255.255.0,2h" in lines
    assert "dhcp-option=option:router,198.51.100.1" in lines
    assert "dhcp-option=option:dns-server,0.0.0.0" in lines
    assert "enable-ra" in lines and "dhcp-option=option6:dns-server,[::]" in lines
    assert f"dhcp-leasefile={tmp_path / 'leases'}" in lines and "user=houserules" in lines
    kept = [("3c:22:fb:12:34:56", "198.51.100.55"), ("3c:22:fb:12:34:57", "192.0.2.9")]
    with_kept = dhcp.dnsmasq_conf(CONF, tmp_path / "leases", None, kept).splitlines()
    assert "dhcp-host=3c:22:fb:12:34:56,198.51.100.55" in with_kept
    assert not any("192.0.2.9" in line for line in with_kept)  # not this network's address
    quiet = dhcp.dnsmasq_conf(replace(CONF, ipv6_ra=False), tmp_path / "leases")
    assert "enable-ra" not in quiet and "user=" not in quiet
    # dnsmasq itself accepts them.
    if shutil.which("dnsmasq"):
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text("\n".join(with_kept) + "\n")
        checked = subprocess.run(
            ["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr


def test_the_lease_file_gives_mac_address_and_a_safe_name(tmp_path):
    leases = tmp_path / "leases"
    leases.write_text(
        "1767225600 3c:22:fb:12:34:56 198.51.100.50 Sams-iPad 01:3c:22:fb:12:34:56\n"
        "0 AA:BB:CC:00:00:01 198.51.100.51 * *\n"
        "duid 00:01:00:01:2c:aa\n"
        "1767225600 1234 2001:db8::5 phone 00:01\n"
        "garbage\n"
    )
    assert dhcp.read_leases(leases) == [
        dhcp.Lease(1767225600.0, "3c:22:fb:12:34:56", "198.51.100.50", "Sams iPad"),
        dhcp.Lease(0.0, "aa:bb:cc:00:00:01", "198.51.100.51", None),
    ]
    assert dhcp.read_leases(tmp_path / "absent") == []


def test_dnsmasq_is_started_again_with_a_back_off_when_it_stops(tmp_path):
    now = [100.0]
    cfg = Config(dhcp=replace(CONF, dnsmasq="/bin/false"), base_dir=tmp_path)
    keeper = dhcp.Dnsmasq(cfg, monotonic=lambda: now[0])
    keeper.look_after()
    first = keeper.process
    assert first is not None and keeper.conf.read_text().startswith("# Written by HouseRules")
    until(lambda: first.poll() is not None)
    keeper.look_after()  # stopped: waits 1 s before starting again
    assert keeper.process is first
    now[0] += 1.5
    keeper.look_after()
    assert keeper.process is not first and keeper.restarts == 1
    keeper.stop()


def test_a_kept_address_reaches_dnsmasq_by_a_restart(tmp_path):
    from agent.rules.household import Device

    devices = [Device(1, mac="3c:22:fb:12:34:56", ip="198.51.100.55")]
    stand_in = tmp_path / "dnsmasq"  # a program that runs until stopped, as dnsmasq does
    stand_in.write_text("#!/bin/sh\nexec sleep 60\n")
    stand_in.chmod(0o755)
    cfg = Config(dhcp=replace(CONF, dnsmasq=str(stand_in)), base_dir=tmp_path)
    keeper = dhcp.Dnsmasq(cfg, devices=lambda: devices)
    keeper.look_after()
    first = keeper.process
    assert "dhcp-host" not in keeper.conf.read_text()
    keeper.look_after()
    assert keeper.process is first and first.poll() is None  # nothing changed: left alone
    devices[0] = replace(devices[0], reserved_ip="198.51.100.55")
    keeper.look_after()
    assert "dhcp-host=3c:22:fb:12:34:56,198.51.100.55" in keeper.conf.read_text()
    assert keeper.process is not first and first.poll() is not None  # restarted
    keeper.stop()


def test_a_missing_dnsmasq_is_said_and_tried_again(tmp_path, caplog):
    cfg = Config(dhcp=replace(CONF, dnsmasq=str(tmp_path / "no-dnsmasq")), base_dir=tmp_path)
    keeper = dhcp.Dnsmasq(cfg)
    keeper.look_after()
    assert keeper.process is None and "cannot start dnsmasq for DHCP" in caplog.text


def test_a_dhcp_offer_is_read_and_anything_else_is_not():
    discover = dhcpprobe.discover_packet(bytes.fromhex("3c22fb123456"), 0xCAFE)
    assert discover[0] == 1 and discover[236:240] == dhcpprobe.MAGIC
    offer = bytearray(discover)
    offer[0] = 2
    offer[16:20] = bytes([198, 51, 100, 77])
    options = bytes([53, 1, 2, 54, 4, 198, 51, 100, 1, 255])
    packet = bytes(offer[:240]) + options
    assert dhcpprobe.parse_offer(packet, 0xCAFE, "198.51.100.9") == dhcpprobe.Offer(
        "198.51.100.1", "198.51.100.77"
    )
    assert dhcpprobe.parse_offer(packet, 0xBEEF, "x") is None  # not our question
    assert dhcpprobe.parse_offer(discover, 0xCAFE, "x") is None  # a request, not an offer
    assert dhcpprobe.parse_offer(packet[:200], 0xCAFE, "x") is None


# -- for real, in network namespaces -------------------------------------------------------------


def _why_not() -> str:
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    for tool in ("ip", "dnsmasq", "udhcpc"):
        if shutil.which(tool) is None:
            return f"needs {tool} (Debian packages iproute2, dnsmasq, udhcpc)"
    return ""


def _sh(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True)


class Home:
    """Two namespaces joined by a veth: the box (198.51.100.1) and a device (no address)."""

    DEVICE_MAC = "3c:22:fb:12:34:56"  # an Apple MAC, as an iPad's

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.box, self.dev = f"hr-box-{tag}", f"hr-dev-{tag}"
        self.procs: list[subprocess.Popen[str]] = []

    def __enter__(self) -> Home:
        made = subprocess.run(["ip", "netns", "add", self.box], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
        _sh("ip", "netns", "add", self.dev)
        _sh("ip", "-n", self.box, "link", "add", "vbox", "type", "veth", "peer", "name", "vdev",
            "netns", self.dev)  # fmt: skip
        _sh("ip", "-n", self.dev, "link", "set", "vdev", "address", self.DEVICE_MAC)
        _sh("ip", "-n", self.box, "addr", "add", "198.51.100.1/24", "dev", "vbox")
        for ns, link in (
            (self.box, "vbox"),
            (self.dev, "vdev"),
            (self.box, "lo"),
            (self.dev, "lo"),
        ):
            _sh("ip", "-n", ns, "link", "set", link, "up")
        return self

    def start(self, ns: str, *cmd: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *cmd],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def run(self, ns: str, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True, timeout=timeout
        )

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):  # the agent first stops its own dnsmasq
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        for ns in (self.box, self.dev):
            left = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            for pid in left.stdout.split():  # only ever processes this test started in them
                os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


UPSTREAM = """
import sys, threading
sys.path[:0] = [sys.argv[1]]
from dnstools import Upstream
up = Upstream().start()
print(up.address, flush=True)
threading.Event().wait()
"""
ASK = """
import sys
sys.path[:0] = [sys.argv[1]]
from dnslib import RCODE
from dnstools import ask
print(RCODE[ask(53, sys.argv[2], host="198.51.100.1", timeout=3).header.rcode])
"""
UDHCPC_SCRIPT = """#!/bin/sh
[ "$1" = bound ] || exit 0
ip addr add "$ip/$subnet" dev "$interface"
echo "ip=$ip dns=$dns router=$router" > "{out}"
"""


@pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-")
def test_a_real_dhcp_client_gets_the_box_as_dns_and_its_childs_rules_by_mac(tmp_path):
    with Home() as home:
        upstream = home.start(home.box, sys.executable, "-c", UPSTREAM, str(HERE))
        address = upstream.stdout.readline().strip()  # type: ignore[union-attr]
        assert address.startswith("127.0.0.1:"), upstream.stderr.read()  # type: ignore[union-attr]
        path = write_config(tmp_path, address)
        text = path.read_text().replace(
            'listen = ["127.0.0.1:0"]',
            'listen = ["198.51.100.1:53"]\nallow_networks = ["198.51.100.0/24", "127.0.0.0/8"]',
        )
        text = text.replace("household_poll_seconds = 0.2", "household_poll_seconds = 0.2\n"
                            "neighbour_refresh_seconds = 0.2")  # fmt: skip
        text += (
            '[dhcp]\nenabled = true\ninterface = "vbox"\nrange_start = "198.51.100.50"\n'
            'range_end = "198.51.100.60"\nrouter = "198.51.100.1"\nlease_poll_seconds = 0.3\n'
            f'state_dir = "{tmp_path / "dhcp"}"\n'
        )
        path.write_text(text)
        cfg_url = f"sqlite:///{tmp_path / 'data' / 'hr.db'}"
        (tmp_path / "data").mkdir(exist_ok=True)
        migrate(cfg_url)
        engine = make_engine(cfg_url)
        sam = store.add_child(engine, "Sam", date(2012, 1, 1))
        store.add_child(engine, "Alex", date(2019, 1, 1))  # the youngest: unknown devices' rules
        store.add_rule(engine, sam.id, "block", "domain", "example.com")

        agent = home.start(
            home.box, sys.executable, "-m", "agent.cli", "--config", str(path), "run"
        )
        until(lambda: (tmp_path / "dhcp" / "dnsmasq.conf").exists() or agent.poll() is not None, 30)
        assert agent.poll() is None, agent.stderr.read()  # type: ignore[union-attr]

        out = tmp_path / "udhcpc.out"
        script = tmp_path / "udhcpc.sh"
        script.write_text(UDHCPC_SCRIPT.format(out=out))
        script.chmod(0o755)
        got = home.run(home.dev, "udhcpc", "-i", "vdev", "-f", "-q", "-n", "-t", "20", "-T", "1",
                       "-x", "hostname:Sams-iPad", "-s", str(script), timeout=60)  # fmt: skip
        assert got.returncode == 0, got.stderr
        lease = dict(kv.split("=", 1) for kv in out.read_text().split())
        assert lease["dns"] == "198.51.100.1" and lease["router"] == "198.51.100.1"
        assert lease["ip"].startswith("198.51.100.")

        # The device asks the box over the veth, and is answered.
        def asked(name: str) -> str:
            done = home.run(home.dev, sys.executable, "-c", ASK, str(HERE), name)
            return done.stdout.strip() or done.stderr.strip().splitlines()[-1]

        answers: list[str] = []
        until(lambda: answers.append(asked("example.com")) or answers[-1] == "NOERROR", 30)

        # It appears on the Devices page by its MAC, with the name it gave itself.
        def device():
            return next((d for d in store.list_devices(engine) if d.mac == home.DEVICE_MAC), None)

        until(lambda: device() is not None and device().hostname == "Sams iPad", 30)
        ipad = device()
        assert ipad.ip == lease["ip"] and ipad.owner == "unassigned"
        # Given to Sam by MAC: Sam's rules now apply to it (Alex's did before).
        store.update_device(engine, ipad.id, owner="child", child_id=sam.id)
        until(lambda: asked("example.com") == "NXDOMAIN", 30)
        assert asked("www.example.com") == "NXDOMAIN"
        assert agent.poll() is None


PROBE = """
from agent.ops import dhcpprobe
print(" ".join(f"{o.server}={o.offered}" for o in dhcpprobe.others("vdev", timeout=5)))
"""


@pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-")
def test_doctors_probe_finds_the_routers_dhcp_server(tmp_path):
    """The router's DHCP (dnsmasq in the box namespace standing in for it) is found from the
    other side of the veth, and nothing is taken: no lease is written."""
    with Home() as home:
        conf = tmp_path / "router.conf"
        leases = tmp_path / "router.leases"
        conf.write_text(dhcp.dnsmasq_conf(replace(CONF, ipv6_ra=False), leases, "root"))
        router = home.start(home.box, "dnsmasq", f"--conf-file={conf}")
        until(lambda: leases.exists() or router.poll() is not None, 10)
        assert router.poll() is None, router.stderr.read()  # type: ignore[union-attr]
        found = home.run(home.dev, sys.executable, "-c", PROBE)
        assert found.returncode == 0, found.stderr
        server, offered = found.stdout.strip().split("=")
        assert server == "198.51.100.1" and offered.startswith("198.51.100.")
        assert leases.read_text() == ""  # only an offer: nothing was taken


@pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-")
def test_dhcp_check_goes_ahead_only_when_no_other_server_answers(tmp_path):
    """`houserules dhcp check`, the step before switching [dhcp] on, run on the device side of
    the veth: nothing answers, then the router's DHCP (dnsmasq standing in for it) does."""
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path}/hr.db"\n[dhcp]\ninterface = "vdev"\n')
    houserules = str(Path(sys.executable).parent / "houserules")
    with Home() as home:
        alone = home.run(home.dev, houserules, "--config", str(config), "dhcp", "check")
        assert alone.returncode == 0, alone.stdout + alone.stderr
        assert "No other DHCP server answered on vdev" in alone.stdout
        conf = tmp_path / "router.conf"
        leases = tmp_path / "router.leases"
        conf.write_text(dhcp.dnsmasq_conf(replace(CONF, ipv6_ra=False), leases, "root"))
        router = home.start(home.box, "dnsmasq", f"--conf-file={conf}")
        until(lambda: leases.exists() or router.poll() is not None, 10)
        assert router.poll() is None, router.stderr.read()  # type: ignore[union-attr]
        # dnsmasq answers once it has bound its socket: ask until it does, with a deadline
        deadline = time.monotonic() + 30
        while True:
            found = home.run(home.dev, houserules, "--config", str(config), "dhcp", "check")
            if found.returncode != 0 or time.monotonic() > deadline:
                break
        assert found.returncode == 1, found.stdout + found.stderr
        assert "Another DHCP server (198.51.100.1) answers on vdev" in found.stdout
        assert "3. Switch the router's DHCP server off and save." in found.stdout
        assert leases.read_text() == ""  # only asked: nothing was taken
