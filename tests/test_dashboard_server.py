"""The dashboard served for real: waitress on a free port in a thread, as `houserules run` and
`houserules dashboard` start it; its housekeeping; the command."""

from __future__ import annotations

import logging
import time
import urllib.request
from dataclasses import replace
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from zoneinfo import ZoneInfo

import pytest

from agent import cli
from agent.config import Config, DashboardConfig, HostPort
from agent.store import household as store
from agent.store import requests
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


def test_housekeeping_puts_lifted_schedules_back(cfg, engine):
    sam = store.add_child(engine, "Sam", date(2015, 3, 1))
    store.add_schedule(
        engine, sam.id, "Bedtime", range(7), clock_time(20, 30), clock_time(7), block_all=True
    )
    yesterday = (datetime.now(TZ) - timedelta(days=1)).replace(hour=20, minute=40)
    asked = requests.add_request(engine, sam.id, "more_time", yesterday, minutes=30)
    requests.decide_request(engine, asked.id, True, 30, yesterday)  # until 21:10 yesterday
    assert store.list_schedules(engine, sam.id) == ()
    server = serve_dashboard(cfg, lambda: engine)  # its housekeeping runs at start
    try:
        deadline = time.monotonic() + 5
        while [s.name for s in store.list_schedules(engine, sam.id)] != ["Bedtime"]:
            assert time.monotonic() < deadline, "the schedule was not put back"
            time.sleep(0.05)
        assert server.housekeeping() == 0  # once only
    finally:
        server.stop()


def test_the_dashboard_command_is_registered():
    args = cli.build_parser().parse_args(["dashboard"])
    assert args.func.__name__ == "cmd_dashboard"
