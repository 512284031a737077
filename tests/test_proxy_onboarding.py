"""What the dashboard serves to set a device up: the PAC file, the certificate, the WireGuard
settings behind the QR code (from the keys mitmproxy keeps in its confdir)."""

from __future__ import annotations

import json

from mitmproxy_rs import wireguard

from agent.config import HostPort
from agent.proxy.onboarding import CERTIFICATE_FILES, certificate, pac_file, wireguard_client_conf


def test_the_pac_file_sends_the_web_to_the_box_and_the_home_network_direct():
    pac = pac_file(HostPort("192.168.1.2", 8081), ("push.apple.com",))
    assert pac.startswith("function FindProxyForURL(url, host) {")
    assert 'return "PROXY 192.168.1.2:8081; DIRECT";' in pac  # the proxy down: still online
    assert 'isInNet(host, "192.168.0.0", "255.255.0.0")' in pac
    assert 'dnsDomainIs(host, ".push.apple.com")' in pac


def test_only_public_certificate_files_are_offered(tmp_path):
    assert certificate(tmp_path, "android") is None  # the proxy has not started yet
    for name in ("mitmproxy-ca-cert.pem", "mitmproxy-ca-cert.cer", "mitmproxy-ca-cert.p12"):
        (tmp_path / name).write_text("cert")
    path, mime = certificate(tmp_path, "iphone-ipad")
    assert path.name == "mitmproxy-ca-cert.pem" and mime == "application/x-x509-ca-cert"
    assert certificate(tmp_path, "toaster") is None
    assert all("-cert" in f for f, _ in CERTIFICATE_FILES.values())  # never the private key


def test_the_wireguard_settings_are_mitmproxys_own(tmp_path):
    assert wireguard_client_conf(tmp_path, HostPort("192.168.1.2", 51820)) is None
    server, phone = wireguard.genkey(), wireguard.genkey()
    keys = {"server_key": server, "client_key": phone}
    (tmp_path / "wireguard.conf").write_text(json.dumps(keys))
    conf = wireguard_client_conf(tmp_path, HostPort("192.168.1.2", 51820))
    assert f"PrivateKey = {phone}" in conf
    assert f"PublicKey = {wireguard.pubkey(server)}" in conf
    assert "Endpoint = 192.168.1.2:51820" in conf and "Address = 10.0.0.1/32" in conf
