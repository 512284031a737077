"""DNS over TCP under attack: connection limits, timeouts and the file-descriptor reserve.

The last test is the issue's: the real DNS process (`houserules run`, in its own process, with
a low RLIMIT_NOFILE so the exhaustion is reached with hundreds of connections rather than
thousands), TCP connections held open past its limit, and a parent's pause from the CLI."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from dnslib import RCODE, DNSRecord

from agent import config as config_mod
from agent.dns import tcp as tcp_mod
from agent.ops.jobs import Jobs
from agent.rules.decision import ALLOWED
from agent.rules.policy import Policy, PolicyHolder
from agent.store.household import add_child
from agent.store.household_devices import add_device

from agenttools import until, write_config
from dnstools import ServerThread, Upstream, ask, free_dns_port

QUERY = DNSRecord.question("example.com", "A").pack()
FRAME = len(QUERY).to_bytes(2, "big") + QUERY


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


def _server(upstream: Upstream, **dns: object) -> ServerThread:
    raw = {
        "dns": {"listen": ["127.0.0.1:0"], "upstream_timeout": 0.5, **dns},
        "upstream": {"servers": [upstream.address]},
    }
    cfg = config_mod.parse(raw, "test", config_mod.Config().base_dir)
    holder = PolicyHolder(Policy(index=None))  # type: ignore[arg-type]
    return ServerThread(cfg, holder, lambda *_: ALLOWED).start()


def _connect(port: int, source: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=3, source_address=(source, 0))
    return s


def _query(s: socket.socket, timeout: float = 3.0) -> int:
    """One query on an open connection; its rcode (ConnectionError if the server closed it)."""
    s.settimeout(timeout)
    s.sendall(FRAME)
    head = _recv(s, 2)
    reply = _recv(s, int.from_bytes(head, "big"))
    return reply[3] & 0x0F


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the server")
        buf += chunk
    return buf


def _closed_by_server(s: socket.socket, within: float) -> bool:
    s.settimeout(within)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_one_address_may_hold_only_its_share_of_connections(upstream):
    st = _server(upstream, tcp_per_client=3, client_rate_limit=0)
    held: list[socket.socket] = []
    try:
        held = [_connect(st.port, "127.0.0.5") for _ in range(3)]
        assert all(_query(s) == RCODE.NOERROR for s in held)
        extra = _connect(st.port, "127.0.0.5")
        held.append(extra)
        assert _closed_by_server(extra, 3.0), "a fourth connection from one address is closed"
        other = _connect(st.port, "127.0.0.6")
        held.append(other)
        assert _query(other) == RCODE.NOERROR, "another device is not affected"
        held[0].close()
        until(lambda: st.server.tcp_limits.by_client.get("127.0.0.5") == 2)
        again = _connect(st.port, "127.0.0.5")
        held.append(again)
        assert _query(again) == RCODE.NOERROR
        assert st.server.tcp_limits.turned_away == 1
    finally:
        for s in held:
            s.close()
        st.stop()


def test_at_the_total_limit_new_connections_wait_rather_than_take_descriptors(
    upstream, monkeypatch
):
    monkeypatch.setattr(tcp_mod, "BUSY_IDLE_SECONDS", 30.0)  # the held ones stay while we look
    st = _server(upstream, tcp_connections=4, client_rate_limit=0)
    held: list[socket.socket] = []
    try:
        held = [_connect(st.port, f"127.0.0.{10 + i}") for i in range(4)]
        assert all(_query(s) == RCODE.NOERROR for s in held)
        waiting = _connect(st.port, "127.0.0.20")  # the kernel's backlog holds it
        held.append(waiting)
        waiting.sendall(FRAME)
        waiting.settimeout(0.5)
        with pytest.raises(TimeoutError):
            waiting.recv(2)  # not accepted: no descriptor spent on it
        assert st.server.tcp_limits.open == 4
        assert ask(st.port, "example.com").header.rcode == RCODE.NOERROR, "UDP goes on"
        held[0].close()
        waiting.settimeout(5)
        size = int.from_bytes(_recv(waiting, 2), "big")
        assert _recv(waiting, size)[3] & 0x0F == RCODE.NOERROR, "served once there is room"
    finally:
        for s in held:
            s.close()
        st.stop()


def test_idle_connections_are_closed_and_sooner_when_busy(upstream, monkeypatch):
    monkeypatch.setattr(tcp_mod, "IDLE_SECONDS", 1.0)
    monkeypatch.setattr(tcp_mod, "BUSY_IDLE_SECONDS", 0.2)
    st = _server(upstream, tcp_connections=4, client_rate_limit=0)
    held: list[socket.socket] = []
    try:
        quiet = _connect(st.port, "127.0.0.5")
        held.append(quiet)
        assert _query(quiet) == RCODE.NOERROR
        started = time.monotonic()
        assert _closed_by_server(quiet, 5.0)
        assert 0.8 <= time.monotonic() - started < 3.0
        # half the connections in use: idle ones go after BUSY_IDLE_SECONDS
        held += [_connect(st.port, f"127.0.0.{20 + i}") for i in range(2)]
        until(lambda: st.server.tcp_limits.open == 2)
        assert all(_query(s) == RCODE.NOERROR for s in held[1:])
        started = time.monotonic()
        assert all(_closed_by_server(s, 5.0) for s in held[1:])
        assert time.monotonic() - started < 0.9
        # a query trickled in a byte at a time is held to the same clock
        slow = _connect(st.port, "127.0.0.6")
        held.append(slow)
        slow.sendall(FRAME[:3])
        assert _closed_by_server(slow, 5.0)
    finally:
        for s in held:
            s.close()
        st.stop()


def test_a_client_that_never_reads_is_cut_off_when_a_write_times_out(upstream, monkeypatch):
    monkeypatch.setattr(tcp_mod, "WRITE_SECONDS", 0.5)
    monkeypatch.setattr(tcp_mod, "IDLE_SECONDS", 30.0)
    st = _server(upstream, client_rate_limit=0)
    big = DNSRecord.question("big.example.com", "TXT").pack()
    frame = len(big).to_bytes(2, "big") + big
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast: nothing is read
        s.bind(("127.0.0.7", 0))
        s.connect(("127.0.0.1", st.port))
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 20
        while st.server.tcp_limits.open or sent == 0:
            assert time.monotonic() < deadline, "a reader that never reads held its connection"
            try:
                sent += s.send(frame * 20)
            except BlockingIOError:
                time.sleep(0.05)  # our send buffer is full too; the server's clock runs
            except (BrokenPipeError, ConnectionResetError):
                break
        assert st.server.tcp_limits.open == 0
        assert ask(st.port, "example.com", tcp=True).header.rcode == RCODE.NOERROR
    finally:
        s.close()
        st.stop()


def test_the_connection_limit_leaves_descriptors_in_reserve(monkeypatch):
    in_use = tcp_mod.descriptors_in_use()
    monkeypatch.setattr(tcp_mod.resource, "getrlimit", lambda _: (in_use + 300, in_use + 300))
    monkeypatch.setattr(tcp_mod.resource, "setrlimit", lambda *_: None)
    assert tcp_mod.tcp_budget(8_000) == 300 - tcp_mod.FD_RESERVE
    assert tcp_mod.tcp_budget(100) == 100
    monkeypatch.setattr(tcp_mod.resource, "getrlimit", lambda _: (in_use + 10, in_use + 10))
    assert tcp_mod.tcp_budget(100) == 1, "always at least one"


# -- the attack, on the real DNS process ------------------------------------------------

FD_LIMIT = 512
CONNECTIONS = 600


def _low_fd_limit() -> None:  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = "import sys; from agent.cli import main; sys.exit(main(sys.argv[1:]))"
    cmd = [sys.executable, "-c", code, "--config", str(config), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def _answers(port: int) -> int | None:
    try:
        return ask(port, "example.com", timeout=1.0).header.rcode
    except TimeoutError:
        return None


def test_held_tcp_connections_cannot_stop_udp_or_a_parents_pause(tmp_path, upstream):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < CONNECTIONS + 200:
        pytest.skip("this test process cannot hold enough connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, CONNECTIONS + 200), hard))
    port = free_dns_port()
    path = write_config(tmp_path, upstream.address)
    text = path.read_text().replace('listen = ["127.0.0.1:0"]', f'listen = ["127.0.0.1:{port}"]')
    # the limit a parent might set on a big box: here the descriptors are what is short
    path.write_text(text.replace("[dns]\n", "[dns]\ntcp_connections = 8000\n", 1))
    cfg = config_mod.load(path)
    jobs = Jobs(cfg)  # migrates the database, as the jobs process does at start
    sam = add_child(jobs.engine, "Sam", date(2015, 5, 1))
    add_device(jobs.engine, ip="127.0.0.1", name="tablet", owner="child", child_id=sam.id)
    jobs.engine.dispose()
    log = (tmp_path / "dns.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.ops.runner", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=_low_fd_limit,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    held: list[socket.socket] = []
    try:
        until(lambda: _answers(port) == RCODE.NOERROR, 30.0)
        for i in range(CONNECTIONS):  # 10 an address: under the per-address limit
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.bind((f"127.0.1.{1 + i // 10}", 0))
            s.connect_ex(("127.0.0.1", port))
            held.append(s)
        for s in held:  # a query on every connection that got through, to keep it busy
            with contextlib.suppress(OSError):
                s.send(FRAME)
        for _ in range(20):
            assert _answers(port) == RCODE.NOERROR, "UDP answers go on"
        done = _cli(path, "pause", "Sam", "--minutes", "10")
        assert done.returncode == 0, done.stderr
        paused_at = time.monotonic()
        took = until(lambda: _answers(port) == RCODE.NXDOMAIN, 5.0)
        assert time.monotonic() - paused_at < 2.0, f"the pause took {took:.1f}s"
    finally:
        for s in held:
            s.close()
        proc.terminate()
        proc.wait(20)
        log.close()
    output = (tmp_path / "dns.log").read_text()
    assert "DNS-over-TCP connections fit" in output  # it saw the limit and said so
    assert "Too many open files" not in output, output[-3000:]
