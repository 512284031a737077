"""The jobs process's dashboard: listening from the start, Flask loaded on the first request."""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import socket
import ssl
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from agent.config import Config, DashboardConfig, HostPort
from agent.store.db import make_engine
from agent.store.migrate import migrate
from dashboard.ondemand import OnDemandDashboard

from waiting import wait_for

ROOT = Path(__file__).resolve().parent.parent
# Needed only once a parent opens a page (or, for Alembic, once there is a migration to run).
NOT_AT_START = (
    "flask",
    "werkzeug",
    "jinja2",
    "waitress",
    "flask_wtf",
    "wtforms",
    "prometheus_client",
    "dashboard.app",
    "dashboard.server",
    "cryptography",
    "alembic",
    "mako",
    "smtplib",
    "agent.digest.mailer",
    "agent.digest.build",
    "agent.talk.prompts",
)
# Composes the jobs process exactly as `python -m houserules.jobs` does (`serve`), then looks at
# its own modules before and after one real request to the dashboard.
PROBE = textwrap.dedent(
    """
    import json, logging, re, sys, threading, urllib.request
    from houserules import jobs as composed
    from agent import config

    ready, found = threading.Event(), {}

    class Watch(logging.Handler):
        def emit(self, record):
            text = record.getMessage()
            if m := re.search(r"dashboard on (http://\\S+/) ", text):
                found["url"] = m.group(1)
            if text.startswith("jobs running"):
                ready.set()

    logging.basicConfig(level=logging.INFO)
    logging.getLogger().addHandler(Watch())
    jobs = composed.Jobs(config.load(config.find_config(sys.argv[1])))
    stop = threading.Event()
    threading.Thread(target=composed.serve, args=(jobs, stop), daemon=True).start()
    assert ready.wait(60), "the jobs never started"
    heavy = sys.argv[2].split(",")
    before = [m for m in heavy if m in sys.modules]
    with urllib.request.urlopen(found["url"] + "kids", timeout=60) as answer:
        status, page = answer.status, answer.read().decode()
    after = [m for m in heavy if m in sys.modules]
    stop.set()
    print(json.dumps({"before": before, "after": after, "status": status, "page": page}))
    """
)


def write_config(tmp: Path) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp / "data" / "hr.db"}"\n'
        f'[blocklists]\ncompiled_dir = "{tmp / "index"}"\n'
        '[dashboard]\nlisten = "127.0.0.1:0"\nhttps = "off"\n'
        '[rules]\ntimezone = "Europe/London"\n'
    )
    return path


def test_the_jobs_process_starts_without_flask_and_its_first_request_gets_a_real_page(tmp_path):
    config = write_config(tmp_path)
    (tmp_path / "data").mkdir()
    migrate(make_engine(f"sqlite:///{tmp_path / 'data' / 'hr.db'}"))  # as `houserules init`
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), ",".join(NOT_AT_START)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["before"] == []  # none of them at start
    assert {"flask", "waitress", "dashboard.app"} <= set(seen["after"])  # all loaded on demand
    # a page loads none of what only /metrics, HTTPS, a profile, email or a migration needs
    assert not {"prometheus_client", "cryptography", "smtplib", "alembic"} & set(seen["after"])
    assert seen["status"] == 200 and "House rules" in seen["page"]
    assert "no parent account yet" in done.stderr  # the setup code is still logged at start


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    dashboard = replace(DashboardConfig(), listen=HostPort("127.0.0.1", 0))
    return Config(dashboard=dashboard, base_dir=tmp_path)


def test_a_dashboard_that_cannot_be_built_says_why_to_the_parent_and_the_log(cfg, engine, caplog):
    caplog.set_level(logging.ERROR, "houserules.dashboard")
    key = cfg.resolve(cfg.dashboard.secret_key_file)
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("short\n")  # the app refuses a key it cannot sign with
    dashboard = OnDemandDashboard(cfg, lambda: engine).start()
    try:
        for _ in range(2):  # the first request and every one after it
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(dashboard.url, timeout=10)
            assert answer.value.code == 503
            assert "holds no usable key" in answer.value.read().decode()
        assert "the dashboard could not start: RuntimeError" in caplog.text
    finally:
        dashboard.stop()


def test_a_taken_port_is_found_at_start_and_a_dashboard_never_opened_stops_cleanly(cfg, engine):
    dashboard = OnDemandDashboard(cfg, lambda: engine).start()
    taken = replace(cfg.dashboard, listen=HostPort("127.0.0.1", dashboard.port))
    with pytest.raises(OSError):
        OnDemandDashboard(replace(cfg, dashboard=taken), lambda: engine)
    dashboard.stop()
    assert not dashboard.built.is_set()  # nothing was loaded for a dashboard nobody opened
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", dashboard.port), timeout=2)


def test_the_first_request_waits_for_the_build_and_later_ones_are_served_as_usual(cfg, engine):
    dashboard = OnDemandDashboard(cfg, lambda: engine).start()
    try:
        with urllib.request.urlopen(dashboard.url + "kids", timeout=30) as answer:
            assert answer.status == 200 and answer.headers["Server"] == "HouseRules"
        wait_for(dashboard.built.is_set, "the app to be built")
        with urllib.request.urlopen(dashboard.url + "login", timeout=10) as answer:
            assert answer.status == 200
    finally:
        dashboard.stop()
    with pytest.raises(OSError):
        urllib.request.urlopen(dashboard.url + "kids", timeout=2)


def test_over_https_the_first_handshake_waits_for_the_certificate_and_the_app(cfg, engine):
    on = replace(cfg.dashboard, https="on")
    dashboard = OnDemandDashboard(replace(cfg, dashboard=on), lambda: engine).start()
    try:
        assert dashboard.url == f"https://127.0.0.1:{dashboard.port}/"
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the box's CA comes later
        conn = http.client.HTTPSConnection("127.0.0.1", dashboard.port, context=ctx, timeout=30)
        conn.request("GET", "/kids")
        response = conn.getresponse()
        assert response.status == 200 and "House rules" in response.read().decode()
        presented = conn.sock.getpeercert(binary_form=True)
        conn.close()
        shown = ":".join(f"{b:02X}" for b in hashlib.sha256(presented).digest())
        assert dashboard.server is not None
        assert shown == dashboard.server.cert.fingerprint  # type: ignore[attr-defined]
    finally:
        dashboard.stop()
