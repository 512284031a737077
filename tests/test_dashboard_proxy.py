"""Proxy setup: the page, the PAC file and the certificate a device fetches without a login,
and the WireGuard QR code that only a logged-in parent sees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import segno
from mitmproxy_rs import wireguard

from agent.config import Config, DashboardConfig, HostPort, ProxyConfig
from agent.proxy.onboarding import pac_file

BOX = "192.168.1.2:8080"  # the dashboard as devices on the home network reach it
PRIVATE = b"-----BEGIN PRIVATE KEY-----\nthe box's own key\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def proxy_settings() -> dict:
    """[proxy] for the test's config; a test parametrizes it to change the config."""
    return {"listen": HostPort("192.168.1.2", 8081), "pinned_hosts": ("bank.example",)}


@pytest.fixture
def app(tmp_path, engine, clock, proxy_settings):
    from dashboard import create_app

    settings = {"TESTING": True, "SECRET_KEY": "a test key " * 4, "CLOCK": clock}
    settings["SERVER_NAME"] = BOX  # the test client asks as a device on the Wi-Fi would
    cfg = Config(base_dir=tmp_path, proxy=ProxyConfig(**proxy_settings))
    return create_app(settings, cfg=cfg, engine_factory=lambda: engine)


@pytest.fixture
def confdir(tmp_path) -> Path:
    path = tmp_path / "data" / "mitmproxy"  # [proxy] confdir, against the config's folder
    path.mkdir(parents=True)
    return path


def certificates(confdir: Path) -> dict[str, bytes]:
    """The files mitmproxy keeps in its confdir after its first start: public and private."""
    files = {
        "mitmproxy-ca-cert.pem": b"-----BEGIN CERTIFICATE-----\npem\n-----END CERTIFICATE-----\n",
        "mitmproxy-ca-cert.cer": b"-----BEGIN CERTIFICATE-----\ncer\n-----END CERTIFICATE-----\n",
        "mitmproxy-ca-cert.p12": b"\x30\x82p12 public",
        "mitmproxy-ca.pem": PRIVATE,
        "mitmproxy-ca.p12": PRIVATE,
        "mitmproxy-dhparam.pem": PRIVATE,
    }
    for name, content in files.items():
        (confdir / name).write_bytes(content)
    return files


def wireguard_keys(confdir: Path) -> tuple[str, str]:
    """Real keys in mitmproxy's own wireguard.conf (JSON): the server's and the phone's."""
    server, phone = wireguard.genkey(), wireguard.genkey()
    keys = {"server_key": server, "client_key": phone}
    (confdir / "wireguard.conf").write_text(json.dumps(keys, indent=4))
    return server, phone


def modules(page: str) -> set[tuple[int, int]]:
    """The dark modules of the QR code in the page, read back from segno's SVG path."""
    (path,) = re.findall(r'<svg[^>]*class="qr".*?<path[^>]* stroke="#000" d="([^"]+)"', page, re.S)
    dark, x, y = set(), 0.0, 0.0
    for op, a, b in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            dark |= {(int(x) + i, int(y)) for i in range(int(a))}
            x += float(a)
    return dark


def qr_of(text: str) -> set[tuple[int, int]]:
    code = segno.make_qr(text, error="m")
    rows = code.matrix_iter(scale=1, border=4)
    return {(x, y) for y, row in enumerate(rows) for x, v in enumerate(row) if v}


def test_the_pac_file_needs_no_login_and_holds_the_configured_proxy(client):
    response = client.get("/proxy.pac")  # no account yet, nobody logged in
    assert response.status_code == 200
    assert response.mimetype == "application/x-ns-proxy-autoconfig"
    pac = response.get_data(as_text=True)
    assert pac == pac_file(HostPort("192.168.1.2", 8081), ("bank.example",))
    assert 'return "PROXY 192.168.1.2:8081; DIRECT";' in pac
    assert 'dnsDomainIs(host, ".bank.example")' in pac and "push.apple.com" not in pac


@pytest.mark.parametrize("proxy_settings", [{"listen": HostPort("0.0.0.0", 8090)}])
def test_a_proxy_on_every_address_is_reached_where_the_device_found_the_dashboard(client):
    pac = client.get("/proxy.pac").get_data(as_text=True)
    assert 'return "PROXY 192.168.1.2:8090; DIRECT";' in pac
    assert "PROXY 0.0.0.0" not in pac


def test_the_certificate_downloads_without_a_login_once_the_proxy_has_made_it(client, confdir):
    response = client.get("/proxy/certificate/android")
    assert response.status_code == 404
    assert "isn't ready yet" in response.get_data(as_text=True)
    files = certificates(confdir)
    for device, name, mime in [
        ("android", "mitmproxy-ca-cert.cer", "application/x-x509-ca-cert"),
        ("iphone-ipad", "mitmproxy-ca-cert.pem", "application/x-x509-ca-cert"),
        ("windows", "mitmproxy-ca-cert.p12", "application/x-pkcs12"),
    ]:
        response = client.get(f"/proxy/certificate/{device}")
        assert response.status_code == 200, device
        assert response.data == files[name] and response.mimetype == mime
        assert response.headers["Content-Disposition"] == f"attachment; filename={name}"


@pytest.mark.parametrize(
    "path",
    [
        "/proxy/certificate/mitmproxy-ca.pem",
        "/proxy/certificate/mitmproxy-ca.p12",
        "/proxy/certificate/mitmproxy-dhparam.pem",
        "/proxy/certificate/wireguard.conf",
        "/proxy/certificate/..%2Fmitmproxy-ca.pem",
        "/proxy/certificate/%2e%2e%2fmitmproxy-ca.pem",
        "/proxy/certificate/android/../../mitmproxy-ca.pem",
        "/proxy/certificate/..",
        "/proxy/certificate/",
        "/proxy/mitmproxy-ca.pem",
        "/proxy/certificate/toaster",
    ],
)
def test_nothing_else_in_the_confdir_is_ever_served(auth, confdir, path):
    certificates(confdir)
    wireguard_keys(confdir)
    for logged_in in (False, True):
        if logged_in:
            auth.login()
        response = auth.client.get(path)
        assert response.status_code == 404, (path, logged_in)
        assert b"PRIVATE KEY" not in response.data and b"client_key" not in response.data


def test_an_unknown_kind_of_device_gets_a_calm_page(client, confdir):
    certificates(confdir)
    response = client.get("/proxy/certificate/toaster")
    assert response.status_code == 404
    assert "no certificate by that name" in response.get_data(as_text=True)


def test_the_setup_page_needs_a_login(auth):
    auth.create()
    response = auth.client.get("/proxy")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_the_setup_page_in_regular_mode(auth, confdir, engine):
    from agent.store import household as store

    auth.login()
    store.add_device(engine, ip="192.168.1.21", name="Sam's laptop", inspect=True)
    store.add_device(engine, ip="192.168.1.30", name="Living-room TV")
    page = auth.client.get("/proxy").get_data(as_text=True)
    assert "Not yet: the box's certificate is made the first time the proxy starts." in page
    assert "/proxy/certificate/" not in page  # no links to a file that is not there
    assert "Mode: <strong>proxy setting</strong>" in page and "192.168.1.2:8081" in page
    assert f"<code>http://{BOX}/proxy.pac</code>" in page
    assert "Sam&#39;s laptop" in page and "Living-room TV" not in page  # only inspected ones
    for words in ("iPhone and iPad", "Android", "Windows", "Mac", "Chromebook", "Firefox"):
        assert f"<summary>{words}" in page
    assert "apps themselves" in page and "pass through untouched" in page  # honest on Android
    certificates(confdir)
    page = auth.client.get("/proxy").get_data(as_text=True)
    assert "The box's certificate is ready." in page
    for device in ("iphone-ipad", "android", "windows", "mac", "chromebook", "firefox"):
        assert f"<code>http://{BOX}/proxy/certificate/{device}</code>" in page
    assert "WireGuard app, tap" not in page and "<svg" not in page
    settings = auth.client.get("/settings").get_data(as_text=True)
    assert 'href="/proxy"' in settings


@pytest.mark.parametrize("proxy_settings", [{}])  # the defaults: listen on 127.0.0.1
def test_a_proxy_only_the_box_can_reach_is_pointed_out(auth):
    auth.login()
    page = auth.client.get("/proxy").get_data(as_text=True)
    assert "which only the box itself can reach" in page and "[proxy] listen" in page


@pytest.mark.parametrize("proxy_settings", [{"mode": "wireguard"}])
def test_wireguard_mode_before_the_keys_exist(auth, confdir):
    auth.login()
    page = auth.client.get("/proxy").get_data(as_text=True)
    assert "Mode: <strong>WireGuard</strong>" in page
    assert "The WireGuard keys are not there yet." in page
    assert "the first time the proxy starts in WireGuard mode" in page
    assert "<code>houserules" not in page  # a parent is never asked to type a command
    assert "<svg" not in page


@pytest.mark.parametrize("proxy_settings", [{"mode": "wireguard"}])
def test_the_wireguard_qr_code_is_the_phones_settings_for_a_parent_only(auth, confdir):
    server, phone = wireguard_keys(confdir)
    auth.create()
    anonymous = auth.client.get("/proxy")
    assert anonymous.status_code == 302 and phone.encode() not in anonymous.data
    auth.login()
    response = auth.client.get("/proxy")
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    expected = "\n".join(
        [
            "[Interface]",
            f"PrivateKey = {phone}",
            "Address = 10.0.0.1/32",
            "DNS = 10.0.0.53",
            "",
            "[Peer]",
            f"PublicKey = {wireguard.pubkey(server)}",
            "AllowedIPs = 0.0.0.0/0",
            "Endpoint = 192.168.1.2:51820",  # this page's address, mitmproxy's WireGuard port
        ]
    )
    (shown,) = re.findall(r'<pre class="conf">(.*?)</pre>', page, re.S)
    assert shown == expected
    assert page.count(phone) == 1  # in the <pre> only; the QR code holds it encoded
    assert modules(page) == qr_of(expected)
    assert modules(page) != qr_of(expected.replace("51820", "51821"))  # the reading is exact
    assert "the address you opened this page with" in page
    assert 'appears under <a href="/devices">Devices</a>' in page
    auth.logout()
    assert phone.encode() not in auth.client.get("/proxy").data


@pytest.mark.parametrize(
    "proxy_settings", [{"mode": "wireguard", "wireguard_listen": HostPort("192.168.1.5", 51999)}]
)
def test_a_configured_wireguard_address_is_used_as_it_is(auth, confdir):
    wireguard_keys(confdir)
    auth.login()
    page = auth.client.get("/proxy").get_data(as_text=True)
    assert "Endpoint = 192.168.1.5:51999" in page
    assert "the address you opened this page with" not in page


def test_a_strange_host_header_never_reaches_the_pac_file(tmp_path, engine) -> None:
    """The PAC file is JavaScript: a Host header with a quote must not be written into it. Such
    a host is never one of the dashboard's names, so it is refused before the PAC file; a name
    the config gives the dashboard is used as it is."""
    from dashboard import create_app

    cfg = Config(
        base_dir=tmp_path,
        proxy=ProxyConfig(listen=HostPort("0.0.0.0", 8090)),
        dashboard=DashboardConfig(hostnames=("box.example",)),
    )
    settings = {"TESTING": True, "SECRET_KEY": "k" * 40}
    app = create_app(settings, cfg=cfg, engine_factory=lambda: engine)
    client = app.test_client()
    response = client.get("/proxy.pac", headers={"Host": 'box".example'})
    assert response.status_code == 400 and 'box".example' not in response.get_data(as_text=True)
    pac = client.get("/proxy.pac", headers={"Host": "box.example"}).get_data(as_text=True)
    assert 'return "PROXY box.example:8090; DIRECT";' in pac
