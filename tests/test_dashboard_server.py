"""The dashboard served for real: waitress on a free port in a thread, as `houserules run` and
`houserules dashboard` start it; a lists update started from Settings on the jobs scheduler;
the command."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request
from dataclasses import replace
from zoneinfo import ZoneInfo

import pytest

from agent.config import Config, DashboardConfig, HostPort
from agent.ops.scheduler import Scheduler
from dashboard.server import serve_dashboard
from houserules import cli as houserules_cli

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


def test_a_lists_update_from_settings_runs_on_the_scheduler_it_is_given(cfg, engine):
    ran = threading.Event()
    release = threading.Event()
    scheduler = Scheduler(TZ)
    server = serve_dashboard(cfg, lambda: engine, jobs=scheduler)
    try:
        b = server.app.extensions["houserules"]
        assert b.jobs is scheduler
        scheduler.start()

        def slow_update() -> None:
            ran.set()
            release.wait(30)

        assert scheduler.run_soon("lists update", slow_update)
        assert ran.wait(30), "the one-off job did not start within 30 s"
        assert not scheduler.run_soon("lists update", slow_update)  # one at a time
        release.set()
        deadline = time.monotonic() + 30
        while not scheduler.run_soon("lists update", lambda: None):
            assert time.monotonic() < deadline, "the first run never finished"
            time.sleep(0.05)
    finally:
        release.set()
        server.stop()
        scheduler.shutdown()


def test_the_dashboard_command_is_registered_by_the_composition_root():
    args = houserules_cli.build_parser().parse_args(["dashboard"])
    assert args.func.__name__ == "cmd_dashboard"
