"""The proxy end to end: `houserules proxy` (a real mitmdump with the addon, regular mode on
loopback), a real household made with the CLI, a real store, and curl through the proxy.

Sam's device is 127.0.0.1, marked "inspect"; Sam's other device, 127.0.0.2 (curl --interface),
is not. Upstream connections go to local servers (tests/proxy_loopback.py, a test-only addon
loaded after ours), so made-up names like blocked.test reach 127.0.0.1 while keeping their
Host header and TLS server name. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agent import config as config_mod
from agent.cli import main as cli

from agenttools import SHIPPED_BYPASS, TZ, RunningAgent
from dnstools import Upstream, ZoneResolver
from proxytools import Origin, json_body, self_signed
from waiting import START_SECONDS, wait_for

pytestmark = [
    pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl"),
    # mitmdump starts slowly on a loaded machine: the module-scoped start counts against the
    # first test, so its timeout leaves room for the start's own deadline
    pytest.mark.timeout(3 * START_SECONDS),
]

TESTS = Path(__file__).resolve().parent
HOUSERULES = Path(sys.executable).parent / "houserules"
FRIEND_REQUESTS = {
    "previousPageCursor": None,
    "nextPageCursor": None,
    "data": [
        {
            "friendRequest": {
                "sentAt": "2026-11-23T11:58:02.113Z",
                "senderId": 987654321,
                "sourceUniverseId": 0,
                "originSourceType": "UserProfile",
            },
            "mutualFriendsList": [],
            "hasVerifiedBadge": False,
            "description": "",
            "created": "2025-01-02T10:00:00Z",
            "isBanned": False,
            "id": 987654321,
            "name": "cool_builder_77",
            "displayName": "CoolBuilder",
        }
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def can_bind(address: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


class RunningProxy:
    """`houserules proxy` in a child process; its output collected by a thread."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        argv = [str(HOUSERULES), "--config", str(config), "proxy", "--"]
        argv += ["-s", str(TESTS / "proxy_loopback.py"), "--set", "ssl_insecure=true"]
        argv += ["--set", "termlog_verbosity=info"]  # to see "listening", and everything
        self.proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str) -> None:
        wait_for(
            lambda: text in self.output,
            f"the proxy to say {text!r}",
            proc=self.proc,
            output=lambda: self.output,
        )

    def stop(self) -> None:
        """As a service manager stops it: SIGTERM, then the writers finish."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# What the home's upstream DNS answers. The proxy looks every name up through HouseRules' own
# DNS (which asks this upstream); the test-only addon then points the connection at the local
# origin servers.
ZONE = """
allowed.test.             300 IN A 203.0.113.10
blocked.test.             300 IN A 203.0.113.11
secure.test.              300 IN A 203.0.113.12
friends.roblox.com.       300 IN A 203.0.113.13
www.youtube.com.          300 IN A 203.0.113.14
restrict.youtube.com.     300 IN A 216.239.38.120
forcesafesearch.google.com. 300 IN A 216.239.38.120
www.tiktok.com.           300 IN A 203.0.113.15
"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def box(tmp_path_factory):
    if not can_bind("127.0.0.2") or not can_bind("127.0.0.3"):
        pytest.skip("needs 127.0.0.2 and 127.0.0.3 on the loopback interface")
    tmp = tmp_path_factory.mktemp("proxy")
    port = free_port()
    upstream = Upstream(ZoneResolver(ZONE)).start()
    config = tmp / "config.toml"
    config.write_text(
        f"""
[dns]
listen = ["127.0.0.1:{free_udp_port()}"]
# 127.0.0.3 stands for a client outside the home's networks
allow_networks = ["127.0.0.1/32", "127.0.0.2/32"]
[upstream]
servers = ["{upstream.address}"]
[store]
url = "sqlite:///{tmp / "data" / "hr.db"}"
[blocklists]
compiled_dir = "{tmp / "index"}"
[[blocklists.sources]]
name = "bypass"
category = "bypass"
path = "{SHIPPED_BYPASS}"
[dashboard]
listen = "127.0.0.1:8080"
[rules]
household_poll_seconds = 0.2
[proxy]
listen = "127.0.0.1:{port}"
confdir = "{tmp / "mitmproxy"}"
block_paths = ["youtube-shorts"]
"""
    )
    born = (datetime.now(TZ).date() - timedelta(days=11 * 365 + 30)).isoformat()
    for argv in (
        ["init"],
        ["child", "add", "Sam", "--born", born],
        ["device", "add", "--ip", "127.0.0.1", "--name", "Sam's tablet", "--child", "Sam",
         "--inspect"],
        ["device", "add", "--ip", "127.0.0.2", "--name", "Sam's phone", "--child", "Sam"],
        ["rule", "block", "Sam", "--domain", "blocked.test"],
        ["rule", "allow", "Sam", "--app", "youtube"],  # 13+ by its terms; a parent allowed it
    ):  # fmt: skip
        assert cli(["--config", str(config), *argv]) == 0, argv
    responses = {("friends.roblox.com", "/v1/my/friends/requests"): json_body(FRIEND_REQUESTS)}
    cert = self_signed(tmp, ["secure.test", "blocked.test"])
    http_origin, tls_origin = Origin(responses, None), Origin(responses, cert)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env |= {
        "HOUSERULES_TEST_HTTP": http_origin.address,
        "HOUSERULES_TEST_TLS": tls_origin.address,
        "PYTHONUNBUFFERED": "1",
        "HOME": str(tmp),  # mitmproxy keeps nothing outside [proxy] confdir
    }
    dns = RunningAgent(config_mod.load(config), jobs=False).__enter__()  # HouseRules' DNS
    proxy = RunningProxy(config, env)
    try:
        proxy.wait_for(f"proxy listening at 127.0.0.1:{port}")
        yield Box(tmp, port, proxy, http_origin, tls_origin, cert[0], upstream.resolver)
    finally:
        proxy.stop()
        dns.__exit__()
        upstream.stop()
        http_origin.stop()
        tls_origin.stop()


class Box:
    def __init__(self, tmp, port, proxy, http_origin, tls_origin, origin_cert, zone) -> None:
        self.tmp, self.port, self.proxy, self.zone = tmp, port, proxy, zone
        self.http_origin, self.tls_origin, self.origin_cert = http_origin, tls_origin, origin_cert
        self.db = tmp / "data" / "hr.db"
        self.ca = tmp / "mitmproxy" / "mitmproxy-ca-cert.pem"

    def curl(self, url: str, source: str = "127.0.0.1", *extra: str) -> tuple[int, str]:
        argv = ["curl", "-sS", "--max-time", "15", "--noproxy", "", "--interface", source]
        argv += ["--proxy", f"http://127.0.0.1:{self.port}", "-w", "\n%{http_code}", *extra, url]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        body, _, code = done.stdout.rpartition("\n")
        return int(code), body

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql, params).fetchall()

    def until(self, sql: str, *params: object, seconds: float = START_SECONDS) -> list[tuple]:
        """Rows written by the background writers, polled with a deadline."""
        deadline = time.monotonic() + seconds
        while True:
            found = self.rows(sql, *params)
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


def test_a_blocked_host_gets_the_block_page(box):
    code, page = box.curl("http://blocked.test/games")
    assert code == 403
    assert "Blocked for Sam by a house rule: blocked.test" in page
    assert "http://127.0.0.1:8080/kids?site=blocked.test" in page
    assert ("blocked.test", "/games") not in box.http_origin.seen


def test_an_allowed_host_passes(box):
    code, body = box.curl("http://allowed.test/hello")
    assert (code, body) == (200, "hello from allowed.test /hello")


def test_youtube_passes_in_restricted_mode_but_shorts_do_not(box):
    code, body = box.curl("http://www.youtube.com/watch?v=abc")
    assert code == 200 and "YouTube-Restrict: Strict" in body  # Sam is 11
    code, page = box.curl("http://www.youtube.com/shorts/abc")
    assert code == 403 and "YouTube Shorts is not open right now" in page


def test_an_app_above_the_childs_age_gets_the_same_answer_as_the_dns(box):
    code, page = box.curl("http://www.tiktok.com/")
    assert code == 403 and "TikTok is for 13+, Sam is 11" in page


def test_a_search_is_recorded_and_a_worrying_one_raises_an_alert(box):
    code, body = box.curl("http://www.google.com/search?q=how+to+hide+self+harm")
    assert code == 200 and "safe=active" in body  # safe search forced at the request
    rows = box.until(
        "SELECT child, name, rule, reason FROM query_log WHERE qtype = 'SEARCH' AND client = ?",
        "127.0.0.1",
    )
    assert rows == [
        ("Sam", "www.google.com", "search:google",
         'Searched Google Search for "how to hide self harm"'),
    ]  # fmt: skip
    alerts = box.until(
        "SELECT child, severity, details FROM events WHERE kind = 'concerning_search'"
    )
    assert alerts and alerts[0][:2] == ("Sam", "urgent")
    assert '"search-something-on-your-mind"' in alerts[0][2] and "0800 1111" in alerts[0][2]


def test_a_friend_request_creates_a_new_contact_event_in_the_store(box):
    code, body = box.curl("http://friends.roblox.com/v1/my/friends/requests?limit=10")
    assert code == 200 and '"cool_builder_77"' in body  # passed on untouched
    events = box.until(
        "SELECT child, severity, app, details FROM events WHERE kind = 'new_contact'"
    )
    assert events and events[0][:3] == ("Sam", "alert", "roblox")
    assert "CoolBuilder (@cool_builder_77)" in events[0][3]
    contacts = box.rows("SELECT child, service, account, handle, kind FROM contacts")
    assert contacts == [("Sam", "roblox", "987654321", "cool_builder_77", "friend_request")]


def test_a_device_not_opted_in_is_refused_with_a_page_saying_why(box):
    code, body = box.curl("http://allowed.test/games", "127.0.0.2")
    assert code == 403 and "not set up to use the house proxy" in body
    # No tunnel either: curl's CONNECT is answered with the same page.
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "15", "--noproxy", "", "--interface", "127.0.0.2",
         "--proxy", f"http://127.0.0.1:{box.port}", "--cacert", str(box.origin_cert),
         "https://secure.test/"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0 and "403" in done.stderr
    assert box.rows("SELECT count(*) FROM query_log WHERE client = '127.0.0.2'") == [(0,)]


def test_a_client_outside_the_home_networks_cannot_connect(box):
    done = subprocess.run(
        ["curl", "-sS", "--max-time", "15", "--noproxy", "", "--interface", "127.0.0.3",
         "--proxy", f"http://127.0.0.1:{box.port}", "-w", "%{http_code}", "http://allowed.test/"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0 and "hello" not in done.stdout


def test_names_are_looked_up_through_houserules(box):
    code, body = box.curl("http://allowed.test/page")
    assert (code, body) == (200, "hello from allowed.test /page")
    assert box.zone.asked[("allowed.test.", "A")] >= 1  # HouseRules asked its upstream
    # A name HouseRules cannot answer is not connected to, whatever the system resolver says.
    code, _ = box.curl("http://nowhere.test/")
    assert code == 502 and box.zone.asked[("nowhere.test.", "A")] >= 1


def test_nobody_is_carried_to_the_box_itself(box):
    code, body = box.curl("http://127.0.0.1:8080/settings")
    assert code == 403 and "on the HouseRules box itself" in body


def test_an_inspected_device_trusting_the_box_gets_the_block_page_over_https(box):
    code, page = box.curl("https://blocked.test/", "127.0.0.1", "--cacert", str(box.ca))
    assert code == 403 and "Ask a parent" in page


def test_the_block_is_in_the_query_log_like_a_dns_answer(box):
    assert box.curl("http://blocked.test/again")[0] == 403
    rows = box.until(
        "SELECT child, action, rule FROM query_log WHERE qtype = 'HTTP' AND name = 'blocked.test'"
    )
    assert ("Sam", "block", "block:domain:blocked.test") in rows


def test_nothing_failed_inside_the_addon(box):
    head = box.proxy.output.split("client connect")[0]
    assert "house rules updated (version" in head  # read before the first connection
    assert " failed" not in box.proxy.output and "Traceback" not in box.proxy.output
