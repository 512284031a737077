"""`houserules run` becomes the DNS process with one malloc arena, and without OpenSSL unless it
serves DNS over TLS (agent/ops/lean.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dnslib import RCODE

from agent import boxcert
from agent.ops.lean import dns_process_command, dns_process_env
from tests.agenttools import write_config
from tests.dnstools import Upstream, ask, ask_tls, free_dns_port
from tests.waiting import tail, wait_for


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _start(
    tmp_path: Path, env: dict[str, str], upstream: str = "127.0.0.1:9", dns: str = "", ui: str = ""
) -> tuple[subprocess.Popen, Path]:
    """`houserules run` with the config's [dns] and [dashboard] given the lines `dns`, `ui`."""
    port = free_dns_port()
    path = write_config(tmp_path, upstream)
    text = path.read_text().replace('"127.0.0.1:0"]', f'"127.0.0.1:{port}"]', 1)
    text = text.replace("[dns]\n", f"[dns]\n{dns}", 1)
    path.write_text(text.replace("[dashboard]\n", f"[dashboard]\n{ui}", 1))
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "--config", str(path), "run"],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
        )  # fmt: skip
    return proc, log_path


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux's /proc")
@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("4", "4")])
def test_run_execs_the_dns_process_with_one_malloc_arena(tmp_path, given, expected):
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONUNBUFFERED"] = "1"
    if given is not None:
        env["MALLOC_ARENA_MAX"] = given  # a unit's own setting wins
    proc, log_path = _start(tmp_path, env)
    try:
        wait_for(
            lambda: "answering on" in log_path.read_text(),
            "the DNS process answering",
            proc=proc,
            output=tail(log_path),
        )
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"agent.ops.runner" in cmdline  # the same process, now the DNS server
        assert _environ(proc.pid).get("MALLOC_ARENA_MAX") == expected
    finally:
        proc.terminate()
        proc.wait(30)


def test_the_command_carries_the_config_and_verbosity():
    assert dns_process_command("/etc/houserules.toml", True)[1:] == [
        "-m", "agent.ops.lean", "-m", "agent.ops.runner", "--config", "/etc/houserules.toml",
        "--verbose",
    ]  # fmt: skip
    lean = ["-m", "agent.ops.lean", "-m", "agent.ops.runner"]
    assert dns_process_command(None, False)[1:] == lean
    assert dns_process_env()["MALLOC_ARENA_MAX"] == os.environ.get("MALLOC_ARENA_MAX", "1")


def _mapped(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _port_of(path: Path) -> int:
    text = path.read_text()
    return int(text.split('listen = ["127.0.0.1:', 1)[1].split('"', 1)[0])


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
def test_without_dns_over_tls_the_dns_process_maps_no_openssl(tmp_path):
    """~5 MB of RSS saved: no libssl or libcrypto, and it answers and blocks as ever."""
    up = Upstream().start()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc, log_path = _start(tmp_path, env, up.address)
    try:
        wait_for(lambda: "answering on" in log_path.read_text(), "the DNS process answering",
                 proc=proc, output=tail(log_path))  # fmt: skip
        port = _port_of(tmp_path / "config.toml")
        assert ask(port, "example.com").header.rcode == RCODE.NOERROR
        assert ask(port, "use-application-dns.net").header.rcode == RCODE.NXDOMAIN  # blocked
        maps = _mapped(proc.pid)
        assert "libcrypto" not in maps and "libssl" not in maps
        assert b"agent.ops.runner" in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    finally:
        proc.terminate()
        proc.wait(30)
        up.stop()
    assert "stopped;" in log_path.read_text()


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
def test_with_dns_over_tls_configured_the_dns_process_answers_over_tls(tmp_path):
    up = Upstream().start()
    tls_port = free_dns_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    tls_dir = tmp_path / "tls"
    dns, ui = f'tls_listen = ["127.0.0.1:{tls_port}"]\n', f'tls_dir = "{tls_dir}"\n'
    proc, log_path = _start(tmp_path, env, up.address, dns, ui)
    try:
        wait_for(lambda: "answering on" in log_path.read_text(), "the DNS process answering",
                 proc=proc, output=tail(log_path))  # fmt: skip
        cafile, name = str(tls_dir / boxcert.CA_CERT), boxcert.box_names()[0]
        assert ask_tls(tls_port, "example.com", cafile, name).header.rcode == RCODE.NOERROR
        blocked = ask_tls(tls_port, "use-application-dns.net", cafile, name)
        assert blocked.header.rcode == RCODE.NXDOMAIN
        assert "libssl" in _mapped(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
        up.stop()
