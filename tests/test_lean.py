"""`houserules run` becomes the DNS process with one malloc arena, and without OpenSSL unless it
serves DNS over TLS (agent/ops/lean.py)."""

from __future__ import annotations

import http.client
import os
import re
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from dnslib import RCODE

from agent import boxcert
from agent.ops.lean import JOBS, dns_process_command, dns_process_env, jobs_process_command
from tests.agenttools import children_of, write_config
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


def test_the_jobs_process_is_started_lean_with_its_config():
    assert jobs_process_command("/etc/houserules.toml")[1:] == [
        "-m", "agent.ops.lean", "-m", "houserules.jobs", "--config", "/etc/houserules.toml",
    ]  # fmt: skip
    assert jobs_process_command(None)[1:] == ["-m", "agent.ops.lean", "-m", "houserules.jobs"]


def test_lean_refuses_a_module_it_does_not_start():
    done = subprocess.run(
        [sys.executable, "-m", "agent.ops.lean", "-m", "agent.cli"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "usage" in done.stderr


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


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs Linux's /proc")
def test_the_jobs_process_maps_openssl_only_when_the_dashboard_is_first_opened(tmp_path):
    """The jobs process runs its jobs without libssl, libcrypto or argon2 (a new database is
    migrated in a child, which takes the PostgreSQL driver's OpenSSL with it); the dashboard
    over HTTPS still answers the first parent to open it, loading OpenSSL then."""
    up = Upstream().start()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    ui = f'https = "on"\ntls_dir = "{tmp_path / "tls"}"\n'
    proc, log_path = _start(tmp_path, env, up.address, ui=ui)
    try:
        found: list[str] = []

        def dashboard_listening() -> bool:
            found[:] = re.findall(r"dashboard on https://127\.0\.0\.1:(\d+)/", log_path.read_text())
            return bool(found)

        wait_for(dashboard_listening, "the jobs process's dashboard listening", proc=proc,
                 output=tail(log_path))  # fmt: skip
        wait_for(lambda: "jobs running" in log_path.read_text(), "the jobs scheduled",
                 proc=proc, output=tail(log_path))  # fmt: skip
        (jobs,) = children_of(proc.pid, JOBS)
        assert b"agent.ops.lean" in Path(f"/proc/{jobs}/cmdline").read_bytes()
        maps = _mapped(jobs)
        assert "libcrypto" not in maps and "libssl" not in maps
        assert "argon2" not in maps  # password hashing loads with the first login
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the box's own CA
        conn = http.client.HTTPSConnection("127.0.0.1", int(found[0]), context=ctx, timeout=60)
        conn.request("GET", "/setup")
        response = conn.getresponse()
        assert response.status == 200 and "setup code" in response.read().decode().lower()
        conn.close()
        assert "libssl" in _mapped(jobs)
    finally:
        proc.terminate()
        proc.wait(30)
        up.stop()


MAIL_FROM_LEAN = """
import sys
from datetime import UTC, datetime
from agent.ops import lean
lean.hold_openssl_back()
lean.leave_openssl_out()
from agent.config import EmailConfig
from agent.digest.mailer import Mailer, MailError
from agent.digest.messages import email_test_message
assert type(sys.modules["ssl"]) is lean.LateSsl  # nothing has used TLS yet
port = int(sys.argv[1])
cfg = EmailConfig(host="127.0.0.1", port=port, security="starttls",
                  sender="HouseRules <box@example.org>", timeout=10.0)
msg = email_test_message(cfg.sender, "nana@example.org", datetime.now(UTC))
try:
    Mailer(cfg).send(msg)
except MailError as exc:
    print("refused:", exc)
else:
    print("sent")
"""


@pytest.mark.parametrize("trusted", [True, False])
def test_email_over_starttls_works_from_a_lean_process(tmp_path, trusted):
    """The jobs process loads OpenSSL when it first sends: a trusted server gets the message,
    an untrusted certificate is still explained in words (ssl's own errors, loaded late)."""
    from smtpserver import SmtpServer, self_signed_cert

    cert = self_signed_cert(tmp_path)
    env = {**os.environ, "SSL_CERT_FILE": str(cert[0]) if trusted else os.devnull}
    with SmtpServer(tls=cert) as smtp:
        done = subprocess.run(
            [sys.executable, "-c", MAIL_FROM_LEAN, str(smtp.port)],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        if trusted:
            assert done.stdout.strip() == "sent"
            assert smtp.wait_for(1)[0].rcpt_tos == ["nana@example.org"]
        else:
            assert done.stdout.startswith("refused:") and "certificate" in done.stdout
