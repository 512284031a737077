"""WireGuard mode for real: `houserules proxy --mode wireguard` (a real mitmdump) creates its
certificate authority and WireGuard keys in [proxy] confdir, and the dashboard turns exactly
those into the certificate download and the phone's QR code.

No WireGuard client runs here (none is installed), so the tunnel itself is not exercised: this
checks the part HouseRules owns, from mitmproxy's files to what a parent scans.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mitmproxy_rs import wireguard

from agent.cli import main as cli
from agent.config import HostPort
from agent.config import load as load_config
from agent.proxy import onboarding

HOUSERULES = Path(sys.executable).parent / "houserules"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, proc: subprocess.Popen, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"houserules proxy stopped before {what}:\n{out}")
        assert time.monotonic() < deadline, f"no {what} within {seconds}s"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory):
    """A box in WireGuard mode that has started its proxy once, then stopped it."""
    tmp_path = tmp_path_factory.mktemp("wireguard")
    port = free_udp_port()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "data" / "hr.db"}"
[blocklists]
compiled_dir = "{tmp_path / "index"}"
[proxy]
mode = "wireguard"
wireguard_listen = "127.0.0.1:{port}"
"""
    )
    assert cli(["--config", str(config), "init"]) == 0
    cfg = load_config(config)
    confdir = cfg.resolve(cfg.proxy.confdir)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env |= {"HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [str(HOUSERULES), "--config", str(config), "proxy"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: (confdir / "wireguard.conf").is_file(), "wireguard.conf", proc)
        wait_for(lambda: (confdir / "mitmproxy-ca-cert.pem").is_file(), "a certificate", proc)
        # mitmproxy serves WireGuard on the UDP port: the port is taken while it runs
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            wait_for(lambda: probe.connect_ex(("127.0.0.1", port)) == 0, "the port", proc)
            with pytest.raises(OSError):
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM).bind(("127.0.0.1", port))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return cfg, confdir


def test_the_phones_settings_come_from_mitmproxys_own_keys(box) -> None:
    cfg, confdir = box
    text = onboarding.wireguard_client_conf(confdir, HostPort("192.168.1.2", 51820))
    assert text is not None
    fields = dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)
    keys = json.loads((confdir / "wireguard.conf").read_text())
    assert fields["PrivateKey"] == keys["client_key"]
    assert fields["PublicKey"] == wireguard.pubkey(keys["server_key"])
    assert fields["Endpoint"] == "192.168.1.2:51820"
    assert fields["Address"] == "10.0.0.1/32"


@pytest.fixture
def app(box, engine, clock):
    """The dashboard on this box's config (the `client` and `auth` fixtures use it)."""
    from dashboard import create_app

    settings = {"TESTING": True, "SECRET_KEY": "a test key " * 4, "CLOCK": clock}
    settings["SERVER_NAME"] = "192.168.1.2:8080"
    return create_app(settings, cfg=box[0], engine_factory=lambda: engine)


def test_the_dashboard_offers_that_certificate_and_shows_that_qr_code(box, client, auth) -> None:
    from dashboard.proxy import qr_svg

    cfg, confdir = box
    cer = client.get("/proxy/certificate/android")
    assert cer.status_code == 200
    assert cer.data == (confdir / "mitmproxy-ca-cert.cer").read_bytes()
    assert cer.data.startswith(b"-----BEGIN CERTIFICATE-----") and b"PRIVATE" not in cer.data
    assert client.get("/proxy/certificate/mitmproxy-ca.pem").status_code == 404

    auth.create()
    auth.login()
    page = client.get("/proxy").get_data(as_text=True)
    endpoint = HostPort("192.168.1.2", cfg.proxy.wireguard_listen.port)
    expected = onboarding.wireguard_client_conf(confdir, endpoint)
    assert expected is not None and f'<pre class="conf">{expected}</pre>' in page
    assert str(qr_svg(expected)) in page  # the QR code of exactly those settings
