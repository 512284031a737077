"""The dashboard over HTTPS, served for real: the TLS front and waitress on loopback, a client
that trusts only the box's own authority, plain HTTP sent on to HTTPS, the device's own
address reaching the app, and connections that stall or speak nonsense costing nothing."""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import time
from dataclasses import replace

import pytest

from agent.config import Config, DashboardConfig, HostPort
from agent.store import household as store
from dashboard import tls
from dashboard.server import serve_dashboard


@pytest.fixture
def https(tmp_path, engine):
    dashboard = replace(DashboardConfig(), listen=HostPort("127.0.0.1", 0), https="on")
    server = serve_dashboard(Config(dashboard=dashboard, base_dir=tmp_path), lambda: engine)
    yield server
    server.stop()


def _client(server, source: str = "127.0.0.1") -> http.client.HTTPSConnection:
    ctx = ssl.create_default_context(cafile=str(server.cert.ca_file))
    return http.client.HTTPSConnection(
        "127.0.0.1", server.port, context=ctx, timeout=5, source_address=(source, 0)
    )


def _get(server, path: str, source: str = "127.0.0.1") -> tuple[http.client.HTTPResponse, str]:
    conn = _client(server, source)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response, body


def test_served_over_https_with_a_certificate_the_box_made_for_its_address(https):
    assert https.url == f"https://127.0.0.1:{https.port}/"
    conn = _client(https)
    conn.request("GET", "/kids")
    response = conn.getresponse()
    assert response.status == 200 and "House rules" in response.read().decode()
    presented = conn.sock.getpeercert(binary_form=True)
    conn.close()
    shown = ":".join(f"{b:02X}" for b in hashlib.sha256(presented).digest())
    assert shown == https.cert.fingerprint
    # The first-visit page shows that same fingerprint, and the session cookie is Secure.
    response, body = _get(https, "/setup")
    assert response.status == 200 and shown in body
    cookie = response.getheader("Set-Cookie") or ""
    assert cookie.startswith("houserules_session=") and "; Secure" in cookie


def test_plain_http_on_the_same_port_is_sent_to_https(https):
    conn = http.client.HTTPConnection("127.0.0.1", https.port, timeout=5)
    conn.request("GET", "/kids?x=1", headers={"Host": f"pi.local:{https.port}"})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://pi.local:{https.port}/kids?x=1"
    conn.close()


def test_each_device_is_known_by_its_own_address_not_the_fronts(https, engine):
    store.add_device(engine, ip="127.0.0.2", owner="adult")
    assert "a grown-up's device" in _get(https, "/kids", source="127.0.0.2")[1]
    assert "isn't set up for anyone" in _get(https, "/kids", source="127.0.0.3")[1]


def test_stalled_and_garbage_connections_do_not_stop_the_dashboard(https):
    stalled = [socket.create_connection(("127.0.0.1", https.port)) for _ in range(20)]
    half = socket.create_connection(("127.0.0.1", https.port))
    half.sendall(b"\x16\x03\x01\x00")  # a TLS handshake that never finishes
    junk = socket.create_connection(("127.0.0.1", https.port))
    junk.sendall(b"\x16" + bytes(range(200)))
    try:
        started = time.monotonic()
        response, _ = _get(https, "/kids")
        assert response.status == 200
        assert time.monotonic() - started < 3
    finally:
        for s in (*stalled, half, junk):
            s.close()


@pytest.mark.parametrize(
    ("https", "host", "wanted"),
    [
        ("auto", "127.0.0.1", False),  # `make run`: plain HTTP
        ("auto", "::1", False),
        ("auto", "0.0.0.0", True),  # a Pi
        ("auto", "192.168.1.2", True),
        ("off", "192.168.1.2", False),
        ("on", "127.0.0.1", True),
    ],
)
def test_https_is_on_when_the_dashboard_listens_beyond_the_box(https, host, wanted):
    dash = replace(DashboardConfig(), listen=HostPort(host, 8080), https=https)
    assert tls.https_wanted(dash) is wanted


@pytest.mark.parametrize(
    ("head", "target"),
    [
        (["GET /a/b HTTP/1.1", "Host: 192.168.1.2:8080"], "https://192.168.1.2:8080/a/b"),
        (["GET / HTTP/1.1", "Host: [fd00::2]:8080"], "https://[fd00::2]:8080/"),
        (["GET //evil.test/ HTTP/1.1", "Host: evil.test/x"], None),
        (["GET http://x/ HTTP/1.1", "Host: pi.local"], "https://pi.local/"),
        (["GET / HTTP/1.1"], None),
    ],
)
def test_the_redirect_names_only_a_sane_host(head, target):
    assert tls.redirect_target(head) == target
