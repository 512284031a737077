"""The Apple profile for a device: DNS over TLS to the box, carrying the box's authority."""

from __future__ import annotations

import plistlib
from dataclasses import replace

from cryptography import x509

from agent.config import HostPort
from agent.store import household as store


def _dot_on(app, tmp_path):
    b = app.extensions["houserules"]
    dns = replace(b.cfg.dns, tls_listen=(HostPort("0.0.0.0", 853),))
    b.cfg = replace(b.cfg, dns=dns)


def test_a_profile_per_device_points_it_at_the_box_over_tls(app, auth, engine, tmp_path):
    _dot_on(app, tmp_path)
    auth.login()
    ipad = store.add_device(engine, mac="3c:22:fb:12:34:56", ip="192.168.1.40", name="Sam's iPad")
    page = auth.client.get("/devices").get_data(as_text=True)
    link = f"/devices/{ipad.id}/apple-profile.mobileconfig"
    assert link in page and "Certificate Trust Settings" in page
    response = auth.client.get(link)
    assert response.status_code == 200
    assert response.mimetype == "application/x-apple-aspen-config"
    assert (
        'filename="HouseRules-Sam-s-iPad.mobileconfig"' in response.headers["Content-Disposition"]
    )
    top = plistlib.loads(response.data)
    assert top["PayloadType"] == "Configuration"
    assert top["PayloadDisplayName"] == "HouseRules for Sam's iPad"
    trust, dns = top["PayloadContent"]
    assert trust["PayloadType"] == "com.apple.security.root"
    ca = x509.load_der_x509_certificate(trust["PayloadContent"])
    ca_file = tmp_path / "data" / "tls" / "ca.pem"
    assert ca == x509.load_pem_x509_certificate(ca_file.read_bytes())
    assert dns["PayloadType"] == "com.apple.dnsSettings.managed"
    settings = dns["DNSSettings"]
    assert settings["DNSProtocol"] == "TLS" and settings["ServerName"].endswith(".local")
    assert all(not a.startswith(("127.", "fe80")) for a in settings.get("ServerAddresses", []))
    # The same device gets the same profile identity again (installing it twice replaces it).
    again = plistlib.loads(auth.client.get(link).data)
    assert again["PayloadUUID"] == top["PayloadUUID"]
    other = store.add_device(engine, ip="192.168.1.41")
    third = plistlib.loads(auth.client.get(f"/devices/{other.id}/apple-profile.mobileconfig").data)
    assert third["PayloadUUID"] != top["PayloadUUID"]


def test_no_profile_without_dns_over_tls_or_a_login(app, auth, engine, tmp_path):
    ipad = store.add_device(engine, ip="192.168.1.40")
    link = f"/devices/{ipad.id}/apple-profile.mobileconfig"
    assert auth.client.get(link).status_code == 302  # to the login page
    auth.login()
    assert auth.client.get(link).status_code == 404  # DNS over TLS is off
    assert "apple-profile" not in auth.client.get("/devices").get_data(as_text=True)
    _dot_on(app, tmp_path)
    assert auth.client.get("/devices/999/apple-profile.mobileconfig").status_code == 404
