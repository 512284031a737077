"""The box for API, metrics and MQTT tests: the real DNS process (in a thread, with a real
upstream on loopback), and the real dashboard served by waitress on a free port, with a parent
who logs in over HTTP like a browser."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from dnslib import RCODE, DNSRecord

from agent import config as config_mod
from agent.store import accounts
from dashboard.server import serve_dashboard

from agenttools import RunningAgent, write_config
from dnstools import DEFAULT_ZONE, Upstream, ZoneResolver, ask

ZONE = DEFAULT_ZONE + "tiktok.com. 300 IN A 192.0.2.11\nnews.example.org. 300 IN A 192.0.2.12\n"
CHILD_IP = "127.0.0.5"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="[^"]*csrf_token"[^>]*value="([^"]+)"')
NEW_TOKEN = re.compile(r'<code class="token">([^<]+)</code>')


@dataclass
class Answer:
    status: int
    body: Any
    headers: Any


class Browser:
    """HTTP to the real dashboard: a cookie jar for the pages, a bearer token for the API."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def open(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        form: dict[str, str] | None = None,
        cookies: bool = True,
    ) -> Answer:
        data, headers = None, {}
        if body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        opener = self.opener if cookies else urllib.request.build_opener()
        try:
            with opener.open(request, timeout=10) as response:
                return Answer(response.status, _decode(response), response.headers)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, _decode(exc), exc.headers)

    def page(self, path: str) -> str:
        answer = self.open("GET", path)
        assert answer.status == 200, (path, answer.status)
        return answer.body

    def submit(self, path: str, form: dict[str, str], page: str = "/settings") -> Answer:
        found = CSRF.search(self.page(page))
        assert found, "no CSRF token on the page"
        return self.open("POST", path, form={**form, "csrf_token": found.group(1)})

    def log_in(self, name: str = "Mum", password: str = PASSWORD) -> None:
        found = CSRF.search(self.page("/login"))
        assert found
        form = {"name": name, "password": password, "csrf_token": found.group(1)}
        assert self.open("POST", "/login", form=form).status == 200  # followed to Home

    def make_token(self, name: str, scope: str) -> str:
        answer = self.submit("/settings/tokens", {"name": name, "scope": scope})
        assert answer.status == 200, answer.body
        found = NEW_TOKEN.search(answer.body)
        assert found, "the new token is not on the page"
        return found.group(1)


def _decode(response: Any) -> Any:
    raw = response.read().decode()
    if response.headers.get("Content-Type", "").startswith("application/json"):
        return json.loads(raw)
    return raw


class Box:
    """The DNS process and the dashboard, sharing one config and database."""

    def __init__(self, tmp_path: Any, extra: str = "", extra_dns: str = "") -> None:
        self.upstream = Upstream(ZoneResolver(ZONE)).start()
        path = write_config(tmp_path, self.upstream.address)
        text = path.read_text().replace("[upstream]\n", extra_dns + "[upstream]\n") + extra
        path.write_text(text)
        self.cfg = config_mod.load(path)
        self.agent = RunningAgent(self.cfg, jobs=True)
        self.dashboard = None

    def __enter__(self) -> Box:
        self.agent.__enter__()
        engine = self.agent.engine
        self.dashboard = serve_dashboard(self.cfg, lambda: engine)
        self.browser = Browser(self.dashboard.url)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.dashboard is not None:
            self.dashboard.stop()
        self.agent.__exit__(*exc)
        self.upstream.stop()

    @property
    def engine(self) -> Any:
        return self.agent.engine

    def parent(self, name: str = "Mum") -> Browser:
        """A parent's account (the first, as the setup page makes it), logged in."""
        first = not accounts.has_accounts(self.engine)
        accounts.create_account(self.engine, name, PASSWORD, _now(), first=first)
        self.browser.log_in(name)
        return self.browser

    def ask(self, name: str, source: str = CHILD_IP) -> DNSRecord:
        return ask(self.agent.port, name, source=source)

    def blocked(self, name: str, source: str = CHILD_IP) -> bool:
        reply = self.ask(name, source)
        return reply.header.rcode == RCODE.NXDOMAIN


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
