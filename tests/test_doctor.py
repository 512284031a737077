"""`houserules doctor`: each check finds the failure it claims to, on loopback or with the fact
injected (a clock, a disk, a neighbour table, the devices the store has seen)."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import threading
import time
from collections import namedtuple
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from dnslib import RCODE, DNSRecord

from agent import cli
from agent.config import Config, HostPort, StoreConfig, load
from agent.lists.index import IndexBuilder
from agent.ops import doctor
from agent.ops.doctor import Finding, Listener, Probes
from agent.rules.household import Device
from agent.store import household as store
from agent.store.db import make_engine
from agent.store.migrate import head_revision, migrate
from tests import pgtools
from tests.pgtools import PgServer

NOW = datetime(2026, 11, 23, 19, 0, tzinfo=UTC)
Usage = namedtuple("Usage", "total used free")
GB = 1024**3
pg_server, pg_url = pgtools.pg_server, pgtools.pg_url  # the fixtures, for pytest
SERVICE_ARGV = ("/opt/houserules/venv/bin/python3", "/opt/houserules/venv/bin/houserules", "run")


class FakeDns:
    """A UDP DNS server on loopback: NXDOMAIN for `nxdomain` names, an empty NOERROR else."""

    def __init__(self, nxdomain: tuple[str, ...] = ()) -> None:
        self.nxdomain = nxdomain
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            data, peer = self.sock.recvfrom(4096)
            if self.stopping.is_set():
                return
            query = DNSRecord.parse(data)
            reply = query.reply()
            if str(query.q.qname).rstrip(".") in self.nxdomain:
                reply.header.rcode = RCODE.NXDOMAIN
            self.sock.sendto(reply.pack(), peer)

    def close(self) -> None:
        self.stopping.set()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # wakes recvfrom
            s.sendto(b"", ("127.0.0.1", self.port))
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def resolver() -> Iterator[FakeDns]:
    server = FakeDns()
    yield server
    server.close()


@pytest.fixture
def houserules_dns() -> Iterator[FakeDns]:
    server = FakeDns(nxdomain=(doctor.CANARY,))
    yield server
    server.close()


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def silent_socket() -> socket.socket:
    """Bound, never answers: an upstream that swallows queries."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


# -- port 53 ----------------------------------------------------------------------------------


def test_a_free_port_is_fine() -> None:
    assert doctor.check_port([HostPort("127.0.0.1", free_port())]).ok is True


@pytest.mark.parametrize("listen_host", ["127.0.0.1", "0.0.0.0"])
def test_a_port_taken_by_another_program_names_it(listen_host: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        found = doctor.check_port([HostPort(listen_host, port)])
    assert found.ok is False
    assert f"(process {os.getpid()}) is already using 127.0.0.1:{port}" in found.problem
    assert "systemctl status" in found.fix


def test_systemd_resolved_gets_its_own_fix() -> None:
    stub = Listener(
        "udp", "127.0.0.53", 53, 412, "systemd-resolve", ("/lib/systemd/systemd-resolved",)
    )
    found = doctor.check_port([HostPort("0.0.0.0", 53)], listeners=lambda port: [stub])
    assert found.ok is False
    assert (
        "systemd-resolved's local DNS stub (process 412) is already using 127.0.0.53:53"
        in found.problem
    )
    assert "DNSStubListener=no" in found.fix


def test_a_stub_on_another_address_does_not_matter_for_a_specific_address() -> None:
    stub = Listener("udp", "127.0.0.53", 53, 412, "systemd-resolve")
    found = doctor.check_port(
        [HostPort("192.168.1.2", 53)], listeners=lambda port: [stub], bind=lambda h, p: 0
    )
    assert found.ok is True


def test_houserules_itself_on_the_port_is_fine() -> None:
    us = Listener("udp", "0.0.0.0", 53, 900, "houserules", SERVICE_ARGV)
    found = doctor.check_port([HostPort("0.0.0.0", 53)], listeners=lambda port: [us])
    assert (
        found.ok is True and "HouseRules is answering on 0.0.0.0:53 (process 900)" in found.detail
    )


def test_a_holder_only_root_could_name_cannot_be_judged() -> None:
    hidden = Listener("udp", "0.0.0.0", 53)  # what a normal user sees of the service
    found = doctor.check_port([HostPort("0.0.0.0", 53)], listeners=lambda port: [hidden])
    assert found.ok is None and "sudo houserules doctor" in found.problem


@pytest.mark.parametrize(
    ("code", "ok", "words"),
    [
        (errno.EACCES, None, "only be tested as root"),
        (errno.EADDRNOTAVAIL, False, "192.168.1.2 is not an address of this box"),
        (errno.EADDRINUSE, False, "Something else is using 192.168.1.2:53 (EADDRINUSE)"),
    ],
)
def test_bind_failures_are_explained(code: int, ok: bool | None, words: str) -> None:
    found = doctor.check_port(
        [HostPort("192.168.1.2", 53)], listeners=lambda port: [], bind=lambda h, p: code
    )
    assert found.ok is ok and words in found.problem


def test_bound_sockets_reads_the_kernel_tables() -> None:
    udp = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt uid timeout\n"
        "  1: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000 101 0 1111 2\n"
        "  2: 0100007F:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 2222 2\n"
    )
    udp6 = (
        "  sl  local_address                         remote_address                        st\n"
        "  0: 00000000000000000000000000000000:0035 00000000000000000000000000000000:0000 07 "
        "00000000:00000000 00:00000000 00000000 0 0 3333 2\n"
    )
    tcp = (
        "  sl  local_address rem_address   st\n"
        "  0: 3500007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000 101 0 4444 1\n"
        "  1: 0201A8C0:0035 0501A8C0:C001 01 00000000:00000000 00:00000000 00000000 101 0 5555 1\n"
    )
    assert doctor.bound_sockets(udp, "udp", 53) == [("127.0.0.53", 1111)]
    assert doctor.bound_sockets(udp6, "udp", 53) == [("::", 3333)]
    assert doctor.bound_sockets(tcp, "tcp", 53) == [("127.0.0.53", 4444)]  # not the connection


def test_listeners_on_finds_this_process_through_proc() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        (found,) = doctor.listeners_on(port)
    assert (found.proto, found.address, found.port, found.pid) == (
        "udp",
        "127.0.0.1",
        port,
        os.getpid(),
    )
    assert not doctor.is_houserules(found)


# -- the DNS and the upstreams ------------------------------------------------------------------


def test_houserules_answering_is_recognised_by_the_canary(houserules_dns: FakeDns) -> None:
    found = doctor.check_dns([HostPort("0.0.0.0", houserules_dns.port)], timeout=1)
    assert found.ok is True and f"answers on 0.0.0.0:{houserules_dns.port}" in found.detail


def test_another_resolver_answering_is_not_houserules(resolver: FakeDns) -> None:
    found = doctor.check_dns([HostPort("127.0.0.1", resolver.port)], timeout=1)
    assert found.ok is False and "not HouseRules" in found.problem


def test_nothing_answering_means_houserules_is_not_running() -> None:
    found = doctor.check_dns([HostPort("127.0.0.1", free_port())], timeout=1)
    assert found.ok is False and "HouseRules is not running" in found.problem
    assert "journalctl -u houserules" in found.fix


def test_upstreams_that_answer_are_fine(resolver: FakeDns) -> None:
    found = doctor.check_upstreams([HostPort("127.0.0.1", resolver.port)], "c.toml", timeout=1)
    assert found.ok is True


def test_dead_upstreams_are_named(resolver: FakeDns) -> None:
    closed = HostPort("127.0.0.1", free_port())
    with silent_socket() as quiet:
        swallowing = HostPort("127.0.0.1", quiet.getsockname()[1])
        some = doctor.check_upstreams(
            [HostPort("127.0.0.1", resolver.port), closed, swallowing], "c.toml", timeout=0.3
        )
        none = doctor.check_upstreams(
            [closed, swallowing], "/etc/houserules/config.toml", timeout=0.3
        )
    assert some.ok is False and f"{closed}, {swallowing} does not answer" in some.problem
    assert none.ok is False and "None of the upstream DNS servers answer" in none.problem
    assert "under [upstream] servers in /etc/houserules/config.toml" in none.fix


# -- clock and disk -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "synced", "ok", "words"),
    [
        (datetime(1970, 1, 1, tzinfo=UTC), None, False, "says 01 January 1970"),
        (datetime(2023, 6, 1, tzinfo=UTC), True, False, "says 01 June 2023"),
        (NOW, False, False, "not synchronised"),
        (NOW, True, True, "synchronised"),
        (NOW, None, True, "unknown"),
    ],
)
def test_the_clock(now: datetime, synced: bool | None, ok: bool, words: str) -> None:
    found = doctor.check_clock(now, synced)
    assert found.ok is ok and words in (found.problem or found.detail)


@pytest.mark.parametrize(
    ("stdout", "code", "expected"), [("yes\n", 0, True), ("no\n", 0, False), ("", 1, None)]
)
def test_ntp_synced_reads_timedatectl(stdout: str, code: int, expected: bool | None) -> None:
    run = lambda *a, **k: SimpleNamespace(stdout=stdout, returncode=code)  # noqa: E731
    assert doctor.ntp_synced(run) is expected


def test_ntp_synced_without_timedatectl_cannot_tell() -> None:
    def run(*a: object, **k: object) -> None:
        raise FileNotFoundError("timedatectl")

    assert doctor.ntp_synced(run) is None


@pytest.mark.parametrize(
    ("usage", "ok"),
    [
        (Usage(32 * GB, 31.7 * GB, int(0.3 * GB)), False),  # 300 MB left
        (Usage(100 * GB, 96 * GB, 4 * GB), False),  # 4% left
        (Usage(32 * GB, 20 * GB, 12 * GB), True),
    ],
)
def test_the_disk(tmp_path: Path, usage: Usage, ok: bool) -> None:
    seen: list[Path] = []
    found = doctor.check_disk(
        tmp_path / "data" / "not-yet", "c.toml", lambda p: seen.append(p) or usage
    )
    assert found.ok is ok and seen == [tmp_path]  # the nearest folder that exists
    if not ok:
        assert "retention_days" in found.fix


# -- the router and the devices -----------------------------------------------------------------

GATEWAY = "192.168.1.1"
NEIGHBOURS = {
    GATEWAY: "00:11:22:33:44:55",
    "192.168.1.20": "aa:bb:cc:dd:ee:01",
    "fe80::1c2d": "aa:bb:cc:dd:ee:01",  # the same phone by IPv6
    "192.168.1.30": "aa:bb:cc:dd:ee:02",
    "192.168.1.40": "aa:bb:cc:dd:ee:03",
}


def device(
    i: int, mac: str | None, ip: str | None, seen: timedelta | None, name: str | None = None
) -> Device:
    last = NOW - seen if seen is not None else None
    return Device(i, mac=mac, ip=ip, name=name, first_seen=last, last_seen=last)


def test_no_device_asking_means_the_router_hands_out_another_dns() -> None:
    devices = [device(1, "aa:bb:cc:dd:ee:01", "192.168.1.20", timedelta(days=3))]
    found = doctor.check_router(NEIGHBOURS, devices, NOW, gateway=GATEWAY, box_ip="192.168.1.2")
    assert found.ok is False
    assert found.problem.startswith("3 devices are on the network, but none asked")
    assert "set the DNS server to this box (192.168.1.2)" in found.fix
    assert "second DNS server empty" in found.fix


def test_some_devices_asking_means_the_router_is_right() -> None:
    devices = [device(1, "aa:bb:cc:dd:ee:01", "192.168.1.20", timedelta(minutes=5))]
    found = doctor.check_router(NEIGHBOURS, devices, NOW, gateway=GATEWAY)
    assert found.ok is True and found.detail == "1 of 3 devices on the network use HouseRules"


def test_an_empty_network_cannot_tell() -> None:
    assert doctor.check_router({GATEWAY: "00:11:22:33:44:55"}, [], NOW, gateway=GATEWAY).ok is None


def test_a_device_that_stopped_asking_and_one_that_never_did_are_named() -> None:
    devices = [
        device(1, "aa:bb:cc:dd:ee:01", "192.168.1.20", timedelta(minutes=2), "Dad's phone"),
        device(2, "aa:bb:cc:dd:ee:02", "192.168.1.30", timedelta(hours=3), "Sam's iPad"),
    ]
    found = doctor.check_devices(NEIGHBOURS, devices, NOW, gateway=GATEWAY)
    assert found.ok is False
    assert "stopped asking HouseRules: Sam's iPad (last 3 hours ago)" in found.problem
    assert "never asked HouseRules: aa:bb:cc:dd:ee:03" in found.problem
    assert "Dad's phone" not in found.problem and "00:11:22:33:44:55" not in found.problem
    assert "Private DNS" in found.fix


def test_a_device_known_by_ip_only_is_matched() -> None:
    devices = [
        device(1, None, "192.168.1.20", timedelta(minutes=2)),
        device(2, "aa:bb:cc:dd:ee:02", None, timedelta(minutes=9)),
        device(3, "aa:bb:cc:dd:ee:03", "192.168.1.40", timedelta(minutes=30)),
    ]
    found = doctor.check_devices(NEIGHBOURS, devices, NOW, gateway=GATEWAY)
    assert found.ok is True


def test_devices_cannot_tell_before_anyone_uses_the_box() -> None:
    assert doctor.check_devices(NEIGHBOURS, [], NOW, gateway=GATEWAY).ok is None


def test_live_neighbours_skips_stale_and_failed_entries() -> None:
    out = (
        "192.168.1.20 dev wlan0 lladdr aa:bb:cc:dd:ee:01 REACHABLE\n"
        "192.168.1.30 dev wlan0 lladdr aa:bb:cc:dd:ee:02 STALE\n"
        "192.168.1.40 dev wlan0 lladdr aa:bb:cc:dd:ee:03 DELAY\n"
        "192.168.1.50 dev wlan0  FAILED\n"
        "fe80::1c2d dev wlan0 lladdr aa:bb:cc:dd:ee:01 router REACHABLE\n"
    )
    run = lambda *a, **k: SimpleNamespace(stdout=out, returncode=0)  # noqa: E731
    assert doctor.live_neighbours(run) == {
        "192.168.1.20": "aa:bb:cc:dd:ee:01",
        "192.168.1.40": "aa:bb:cc:dd:ee:03",
        "fe80::1c2d": "aa:bb:cc:dd:ee:01",
    }


def test_default_gateway_reads_the_routing_table(tmp_path: Path) -> None:
    route = tmp_path / "route"
    route.write_text(
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\n"
        "wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\n"
    )
    assert doctor.default_gateway(route) == "192.168.1.1"
    assert doctor.default_gateway(tmp_path / "missing") is None


# -- config and database ------------------------------------------------------------------------


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "ok", "words"),
    [
        ('[dns]\nlisten = ["127.0.0.1:53"]\n', False, "only listens on this box itself"),
        ('[dns]\nlisten = ["0.0.0.0:5353"]\n', False, "listens on port 5353"),
        (
            '[dns]\nlisten = ["0.0.0.0:53"]\n[[blocklists.sources]]\nname = "x"\n'
            'category = "adult"\npath = "lists/x.txt"\n',
            False,
            "lists/x.txt, which is missing",
        ),
        ('[dns]\nlisten = ["0.0.0.0:53"]\n', True, "DNS on 0.0.0.0:53"),
    ],
)
def test_the_config(tmp_path: Path, text: str, ok: bool, words: str) -> None:
    found = doctor.check_config(load(config(tmp_path, text)))
    assert found.ok is ok and words in (found.problem or found.detail)


def test_no_config_file_at_all() -> None:
    found = doctor.check_config(load(None))
    assert found.ok is False and "No config file" in found.problem


def test_the_database(tmp_path: Path) -> None:
    cfg = load(config(tmp_path, '[store]\nurl = "sqlite:///data/h.db"\n'))
    assert "no database" in doctor.check_database(cfg).problem
    engine = make_engine(cfg.database_url)
    engine.dispose()  # an empty file: no revision yet
    found = doctor.check_database(cfg)
    assert found.ok is False and "sudo houserules migrate" in found.fix
    migrate(cfg.database_url)
    assert doctor.check_database(cfg) == Finding(
        "database", True, detail=f"{cfg.database_path} is at revision {head_revision()}"
    )


def test_the_compiled_lists_each_file_damaged_in_turn(tmp_path: Path) -> None:
    b = IndexBuilder()
    b.add("casino.example", "gambling", "gambling")
    cfg = load(config(tmp_path, '[blocklists]\ncompiled_dir = "index"\n'))
    folder = cfg.resolve(cfg.blocklists.compiled_dir)
    assert doctor.check_index(cfg).ok is None  # not compiled yet: that happens at start
    b.build("fp").save(folder)
    assert doctor.check_index(cfg).ok is True
    for path in sorted(folder.iterdir()):
        whole = path.read_bytes()
        damaged = bytearray(whole)
        damaged[len(damaged) // 2] ^= 0x10
        path.write_bytes(bytes(damaged))
        found = doctor.check_index(cfg)
        assert found.ok is False and path.name in found.problem, path.name
        assert "houserules lists update" in found.fix
        path.write_bytes(whole)
        assert doctor.check_index(cfg).ok is True


# -- all together, and the command --------------------------------------------------------------


def a_box(tmp_path: Path, dns: int, upstream: int) -> Path:
    path = config(
        tmp_path,
        f'[dns]\nlisten = ["127.0.0.1:{dns}"]\n[upstream]\nservers = ["127.0.0.1:{upstream}"]\n'
        '[store]\nurl = "sqlite:///data/h.db"\n',
    )
    cfg = load(path)
    migrate(cfg.database_url)
    engine = make_engine(cfg.database_url)
    store.add_child(engine, "Sam", date(2014, 5, 1))
    store.record_seen(
        engine, {"192.168.1.20": ("aa:bb:cc:dd:ee:01", (NOW - timedelta(minutes=1)).timestamp())}
    )
    return path


def probes(**changes: object) -> Probes:
    base = Probes(
        listeners=lambda port: [Listener("udp", "127.0.0.1", port, 7, "houserules", SERVICE_ARGV)],
        now=lambda: NOW,
        synced=lambda: True,
        usage=lambda p: Usage(32 * GB, 8 * GB, 24 * GB),
        neighbours=lambda: {"192.168.1.20": "aa:bb:cc:dd:ee:01"},
        gateway=lambda: None,
        ipv6=lambda: doctor.Ipv6Facts(advertised=[], own=["::1"]),
        dhcp=lambda interface: [doctor.dhcpprobe.Offer("192.168.1.1", "192.168.1.150")],
        timeout=1.0,
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def test_run_checks_gathers_every_check(
    tmp_path: Path, houserules_dns: FakeDns, resolver: FakeDns
) -> None:
    cfg = load(a_box(tmp_path, houserules_dns.port, resolver.port))
    findings = doctor.run_checks(cfg, probes())
    one_box = [c for c in doctor.TITLES if c != "peers"]  # "Other box" needs [dns] peers
    assert [f.check for f in findings] == one_box
    problems = {f.check: f for f in findings if f.ok is False}
    # HouseRules on 127.0.0.1 only, and no lists compiled yet, are what is wrong with this box.
    assert set(problems) == {"config", "lists"}, problems
    assert "adult: not blocked yet" in problems["lists"].problem
    by_check = {f.check: f for f in findings}
    assert by_check["port"].detail.startswith("HouseRules is answering on 127.0.0.1:")
    assert by_check["router"].detail == "1 of 1 devices on the network use HouseRules"
    assert by_check["devices"].ok is True


def test_the_doctor_command_prints_text_or_json(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    resolver: FakeDns,
) -> None:
    if "maintenance" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "maintenance"))
    monkeypatch.setattr(
        doctor, "Probes", lambda: probes(now=lambda: datetime(1970, 1, 1, tzinfo=UTC))
    )
    path = a_box(tmp_path, free_port(), resolver.port)
    assert cli.main(["--config", str(path), "doctor", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    problems = {f["check"] for f in report["findings"] if f["ok"] is False}
    assert problems == {"config", "dns", "clock", "lists"}
    clock = next(f for f in report["findings"] if f["check"] == "clock")
    assert clock["title"] == "Clock" and "timedatectl set-ntp true" in clock["fix"]
    assert cli.main(["--config", str(path), "doctor"]) == 1
    text = capsys.readouterr().out
    assert "PROBLEM  Clock" in text and "Fix: Connect the box to the internet" in text
    assert text.rstrip().endswith("4 problem(s) found.")


# -- with HouseRules really running --------------------------------------------------------------


def test_the_running_dns_process_is_houserules_not_a_conflict(tmp_path: Path) -> None:
    """`houserules run` execs `python -m agent.ops.runner`: doctor must know that process as
    HouseRules itself, not call it a program in the way."""
    import subprocess
    import sys

    from agenttools import write_config
    from dnstools import Upstream, ask

    upstream = Upstream().start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = write_config(tmp_path, upstream.address)
    path.write_text(path.read_text().replace('"127.0.0.1:0"]', f'"127.0.0.1:{port}"]', 1))
    assert cli.main(["--config", str(path), "init"]) == 0
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "houserules"), "--config", str(path), "run"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # ready when it answers
            try:
                ask(port, "example.com", timeout=1.0)
                break
            except OSError:  # nothing yet (timeout or refused)
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "houserules run did not answer within 60 s"
        found = doctor.check_port(load(path).dns.listen)
        assert found.ok is True, found
        assert found.detail.startswith(f"HouseRules is answering on 127.0.0.1:{port}")
        (holder,) = {o.pid for o in doctor.listeners_on(port) if o.proto == "udp"}
        assert holder == proc.pid  # the very process `houserules run` became
    finally:
        proc.terminate()
        proc.wait(30)
        upstream.stop()


def test_devices_using_the_box_from_beyond_the_local_network_are_not_denied() -> None:
    """Three devices asked HouseRules in the last hour, none of them in the neighbour table
    (another subnet, a VPN, loopback): doctor must not say no device uses it."""
    devices = [
        device(i, None, f"10.9.0.{i}", timedelta(minutes=5), f"Tablet {i}") for i in (1, 2, 3)
    ]
    for found in (
        doctor.check_devices(NEIGHBOURS, devices, NOW, gateway=GATEWAY),
        doctor.check_router(NEIGHBOURS, devices, NOW, gateway=GATEWAY),
    ):
        assert found.ok is None
        assert "No device uses" not in found.problem
        assert found.problem.startswith("3 devices asked HouseRules in the last day (Tablet 1")


# -- a second box: the database is PostgreSQL --------------------------------------------------


def postgres_box(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "pg.toml"
    config.write_text(f'[store]\nurl = "{url}"\n')
    return config


def test_a_postgresql_database_is_named_with_its_password_masked(
    tmp_path: Path, pg_url: str
) -> None:
    url = pg_url.replace("houserules@", "houserules:s3cret-word@")  # trust: any password does
    found = doctor.check_database(load(postgres_box(tmp_path, url)))
    shown = url.replace("s3cret-word", "***")
    assert "s3cret-word" not in json.dumps(vars(found))
    # a new database answers; the migrations it lacks are the next step
    assert found.ok is False and found.problem.startswith(f"The database {shown} is at revision")
    assert "houserules migrate" in found.fix


def test_a_postgresql_server_that_is_away_is_named_with_the_fix(tmp_path: Path) -> None:
    server = PgServer()
    url = server.create_database().replace("houserules@", "houserules:s3cret-word@")
    server.close()
    found = doctor.check_database(load(postgres_box(tmp_path, url)))
    assert found.ok is False
    assert found.problem.startswith(url.replace("s3cret-word", "***") + " cannot be reached")
    assert "s3cret-word" not in json.dumps(vars(found))
    assert "systemctl status postgresql" in found.fix and "A second box" in found.fix


def test_a_postgresql_url_without_its_driver_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg cannot be uninstalled for one test: a None in sys.modules makes importing it fail."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    url = "postgresql://houserules:s3cret-word@192.0.2.1/houserules"
    # built directly: loading such a config may refuse it already (the config checks)
    found = doctor.check_database(Config(store=StoreConfig(url=url), base_dir=tmp_path))
    assert found.ok is False and "s3cret-word" not in found.problem
    assert "needs the PostgreSQL driver (psycopg)" in found.problem
    assert "pip install 'psycopg[binary]>=3.1'" in found.fix
