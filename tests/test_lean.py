"""`houserules run` becomes the DNS process with one malloc arena (agent/ops/lean.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.ops.lean import dns_process_command, dns_process_env
from tests.agenttools import write_config
from tests.dnstools import free_dns_port
from tests.waiting import tail, wait_for


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
    port = free_dns_port()
    path = write_config(tmp_path, "127.0.0.1:9")
    path.write_text(path.read_text().replace('"127.0.0.1:0"]', f'"127.0.0.1:{port}"]', 1))
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
        "-m", "agent.ops.runner", "--config", "/etc/houserules.toml", "--verbose",
    ]  # fmt: skip
    assert dns_process_command(None, False)[1:] == ["-m", "agent.ops.runner"]
    assert dns_process_env()["MALLOC_ARENA_MAX"] == os.environ.get("MALLOC_ARENA_MAX", "1")
