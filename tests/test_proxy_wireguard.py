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
from pathlib import Path

import pytest
from mitmproxy_rs import wireguard

from agent.cli import main as cli
from agent.config import HostPort
from agent.config import load as load_config
from agent.proxy import onboarding

from waiting import START_SECONDS, tail, wait_for

HOUSERULES = Path(sys.executable).parent / "houserules"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def udp_port_taken(port: int) -> bool:
    """True once a socket is bound to the UDP port, as the kernel lists them. (A UDP connect()
    succeeds whether anything listens or not, and binding to probe could steal the port.)"""
    local = {line.split()[1] for line in Path("/proc/net/udp").read_text().splitlines()[1:]}
    return any(address.endswith(f":{port:04X}") for address in local)


# mitmdump's start (Python, then its Rust WireGuard server) takes seconds alone and much longer
# on a loaded machine: the fixture's deadlines are START_SECONDS each, the module's test timeout
# leaves room for them.
pytestmark = pytest.mark.timeout(4 * START_SECONDS)


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
    log = tmp_path / "proxy.log"  # a file, not a pipe: nobody has to read it for it to run
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(HOUSERULES), "--config", str(config), "proxy"],
            env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    said = tail(log)
    try:
        wait_for(
            lambda: (confdir / "wireguard.conf").is_file(),
            f"mitmproxy's WireGuard keys in {confdir}",
            proc=proc,
            output=said,
        )
        wait_for(
            lambda: (confdir / "mitmproxy-ca-cert.pem").is_file(),
            "mitmproxy's certificate authority",
            proc=proc,
            output=said,
        )
        # mitmproxy serves WireGuard on the UDP port: the port is taken while it runs
        wait_for(
            lambda: udp_port_taken(port),
            f"the WireGuard server on UDP 127.0.0.1:{port}",
            proc=proc,
            output=said,
        )
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
