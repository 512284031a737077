"""The dashboard served for real: waitress on a free port in a thread, as `houserules run` and
`houserules dashboard` start it; its housekeeping; the command."""

from __future__ import annotations

import logging
import urllib.request
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

from agent import cli
from agent.config import Config, DashboardConfig, HostPort
from dashboard.server import serve_dashboard

TZ = ZoneInfo("Europe/London")


@pytest.fixture
def cfg(tmp_path):
    dashboard = replace(DashboardConfig(), listen=HostPort("127.0.0.1", 0))
    return Config(dashboard=dashboard, base_dir=tmp_path)


def test_served_by_waitress_with_the_headers_and_a_setup_code_in_the_log(cfg, engine, caplog):
    caplog.set_level(logging.WARNING, "houserules.dashboard")
    server = serve_dashboard(cfg, lambda: engine)
    try:
        assert server.port > 0 and server.url == f"http://127.0.0.1:{server.port}/"
        with urllib.request.urlopen(server.url + "kids", timeout=5) as response:
            assert response.status == 200
            assert response.headers["Server"] == "HouseRules"
            assert response.headers["X-Frame-Options"] == "DENY"
            assert "House rules" in response.read().decode()
        code = (cfg.base_dir / "data" / "dashboard-setup-code").read_text().strip()
        assert f"enter the setup code {code}" in caplog.text
        key = cfg.base_dir / "data" / "dashboard-secret"
        assert key.stat().st_mode & 0o777 == 0o600
    finally:
        server.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url + "kids", timeout=2)


def test_the_dashboard_command_is_registered():
    args = cli.build_parser().parse_args(["dashboard"])
    assert args.func.__name__ == "cmd_dashboard"
