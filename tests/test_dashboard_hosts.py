"""The dashboard answers only requests naming its own host (DNS rebinding): with Flask's test
client, and for real over loopback with waitress."""

from __future__ import annotations

import http.client
import socket
from dataclasses import replace

import pytest

from agent.config import Config, DashboardConfig, EmailConfig, HostPort
from dashboard import create_app
from dashboard.security import HostCheck
from dashboard.server import serve_dashboard

OTHERS = ["evil.example", "evil.example:8080", "houserules.home.arpa.evil.example", "198.51.100.9"]


@pytest.fixture
def cfg(tmp_path):
    dashboard = replace(
        DashboardConfig(), listen=HostPort("127.0.0.1", 0), hostnames=("houserules.home.arpa",)
    )
    email = replace(EmailConfig(), dashboard_url="http://parents.example:8080/")
    return Config(dashboard=dashboard, email=email, base_dir=tmp_path)


@pytest.fixture
def client(cfg, engine):
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "k" * 40}, cfg=cfg, engine_factory=lambda: engine
    )
    return app.test_client()


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1:8080",
        "127.0.0.1",
        "[::1]:8080",
        "HouseRules.Home.Arpa",  # from [dashboard] hostnames
        "parents.example:8080",  # the address the emails link to
        socket.gethostname(),
        f"{socket.gethostname()}.local",
    ],
)
def test_its_own_names_and_addresses_are_answered(client, host):
    assert client.get("/kids", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", OTHERS)
def test_any_other_host_gets_400_before_any_page(client, host):
    for path in ("/kids", "/login", "/", "/no-such-page"):
        response = client.get(path, headers={"Host": host})
        assert response.status_code == 400, path
        assert "own name or address" in response.get_data(as_text=True)
    response = client.post("/login", headers={"Host": "evil.example"}, data={"name": "Mum"})
    assert response.status_code == 400


def test_an_address_of_another_machine_is_not_the_boxs():
    check = HostCheck("0.0.0.0", ["box"])
    assert check.allows("127.0.0.5:80") and check.allows("box")
    assert not check.allows("203.0.113.5") and not check.allows("0.0.0.0")
    assert not check.allows("[2001:db8::5]:8080")


def test_a_real_request_with_a_foreign_host_header_is_refused(cfg, engine):
    server = serve_dashboard(cfg, lambda: engine)
    try:
        for host, status in (("evil.example", 400), (f"127.0.0.1:{server.port}", 200)):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            try:
                conn.request("GET", "/kids", headers={"Host": host})
                response = conn.getresponse()
                assert response.status == status, host
                response.read()
            finally:
                conn.close()
    finally:
        server.stop()
