"""Logs a child cannot write into: a name with CR/LF, control bytes or a backslash comes out
as one escaped line, in the real DNS process's own log."""

from __future__ import annotations

import io
import logging
import os
import socket
import struct
import subprocess
import sys

import pytest

from agent import config as config_mod
from agent import logsafe

from agenttools import until, write_config
from dnstools import BlackHole, free_dns_port

FORGED = "2026-12-01 21:00:00,000 INFO houserules: Sam's pause was lifted by a parent"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain.example.com", "plain.example.com"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("esc\x1b[31mred", "esc\\x1b[31mred"),
        ("nul\x00del\x7fc1\x85", "nul\\x00del\\x7fc1\\x85"),
        ("back\\slash", "back\\\\slash"),
        ("line\u2028sep\u202eevil", "line\\u2028sep\\u202eevil"),
        ("Zoë's tablet", "Zoë's tablet"),
    ],
)
def test_escaped_leaves_one_printable_line(raw, shown):
    assert logsafe.escaped(raw) == shown


def test_every_record_is_escaped_once_installed_and_tracebacks_keep_their_lines():
    old = logging.getLogRecordFactory()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("houserules.test-logsafe")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logsafe.install()
        logger.warning("no upstream answered for %s", f"x\r\n{FORGED}")
        logger.warning(f"made by hand: y\n{FORGED}")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed for %s", "z\rz")
    finally:
        logging.setLogRecordFactory(old)
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == f"no upstream answered for x\\r\\n{FORGED}"
    assert lines[1] == f"made by hand: y\\n{FORGED}"
    assert lines[2] == "failed for z\\rz" and lines[3].startswith("Traceback")
    assert not any(line.startswith("2026-12-01") for line in lines)


def _query(labels: list[bytes]) -> bytes:
    name = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    return struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)


def test_a_name_with_crlf_makes_one_escaped_line_in_the_dns_process_log(tmp_path):
    dead = BlackHole()  # the upstream fails, so the server logs the name it could not resolve
    port = free_dns_port()
    path = write_config(tmp_path, dead.address)
    path.write_text(
        path.read_text().replace('listen = ["127.0.0.1:0"]', f'listen = ["127.0.0.1:{port}"]')
    )
    config_mod.load(path)  # a valid config, or the test proves nothing
    log_path = tmp_path / "dns.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent.ops.runner", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    evil = b"x\r\n" + FORGED.encode()[:50]
    packet = _query([evil, b"a\\b\x1b\x00", b"example", b"com"])
    try:
        until(lambda: "answering on" in log_path.read_text(), 30.0)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)

            def logged() -> bool:
                s.sendto(packet, ("127.0.0.1", port))
                return "no upstream answered" in log_path.read_text()

            until(logged, 15.0)
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()
        dead.close()
    lines = log_path.read_text().splitlines()
    warned = [line for line in lines if "no upstream answered" in line]
    assert warned, lines
    assert (
        "x\\r\\n2026-12-01 21:00:00,000 info houserules: sam's pau" in warned[0]
    )  # lower case: a name
    assert ".a\\\\b\\x1b\\x00.example.com" in warned[0]
    assert not [line for line in lines if line.startswith("2026-12-01 21:00:00")]
