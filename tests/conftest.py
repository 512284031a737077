"""Fixtures for the dashboard tests, in the Flask tutorial's shape: `app`, `client`, `runner`
and `auth` (which logs in and posts forms with their CSRF token), over a real SQLite file and
a clock the test sets. Nothing here runs unless a test asks for these fixtures.

The PostgreSQL server is registered here, once, so every module shares the one session server
(a module that imports `pg_server` itself gets a server of its own); `store_url` runs a test on
SQLite and on PostgreSQL (tests/storetools.py)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.pgtools import pg_server, pg_url  # noqa: F401  (fixtures)
from tests.storetools import store_kind, store_url  # noqa: F401  (fixtures)

TZ = ZoneInfo("Europe/London")
WEDNESDAY_6PM = datetime(2026, 11, 18, 18, 0, tzinfo=TZ)
PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="[^"]*csrf_token"[^>]*value="([^"]+)"')


class Clock:
    """The box's time, as the test says."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock(WEDNESDAY_6PM)


@pytest.fixture
def engine(tmp_path: Path) -> Any:
    from agent.store import accounts, requests, talk  # noqa: F401  (their tables)
    from agent.store.db import init_db, make_engine

    eng = make_engine(f"sqlite:///{tmp_path / 'data' / 'hr.db'}")
    init_db(eng)
    return eng


@pytest.fixture
def app(tmp_path: Path, engine: Any, clock: Clock) -> Any:
    from agent.config import Config
    from dashboard import create_app

    neighbours: dict[str, str] = {}  # the test may fill it in: IP -> MAC
    settings = {"TESTING": True, "SECRET_KEY": "a test key " * 4, "CLOCK": clock}
    settings["NEIGHBOURS"] = lambda: neighbours
    return create_app(settings, cfg=Config(base_dir=tmp_path), engine_factory=lambda: engine)


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


class AuthActions:
    password = PASSWORD

    def __init__(self, client: Any, engine: Any, clock: Clock) -> None:
        self.client, self.engine, self.clock = client, engine, clock

    @staticmethod
    def token_in(page: str) -> str:
        found = TOKEN.search(page)
        assert found, "no CSRF token on the page"
        return found.group(1)

    def token(self, page: str = "/help") -> str:
        return self.token_in(self.client.get(page).get_data(as_text=True))

    def create(self, name: str = "Mum", password: str = PASSWORD) -> Any:
        from agent.store import accounts

        first = not accounts.has_accounts(self.engine)
        return accounts.create_account(self.engine, name, password, self.clock(), first=first)

    def login(self, name: str = "Mum", password: str = PASSWORD) -> Any:
        from agent.store import accounts

        if not any(a.name == name for a in accounts.list_accounts(self.engine)):
            self.create(name, password)
        data = {"name": name, "password": password, "csrf_token": self.token("/login")}
        return self.client.post("/login", data=data)

    def logout(self) -> Any:
        return self.post("/logout")

    def post(self, url: str, data: dict[str, Any] | None = None, page: str = "/help") -> Any:
        """POST a form the way a browser would: with the token from a page of the site."""
        data = dict(data or {})
        data.setdefault("csrf_token", self.token(page))
        return self.client.post(url, data=data)


@pytest.fixture
def auth(client: Any, engine: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch) -> AuthActions:
    from argon2 import PasswordHasher

    from agent.store import accounts

    # The real cost (about 64 MiB and a good fraction of a second) is for attackers, not tests.
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", lambda: cheap)
    return AuthActions(client, engine, clock)


def _add_activity(engine: Any, child: str, day: Any, apps: dict[str, tuple[int, int]]) -> None:
    """Give `child` on local `day`: app -> (start hour UTC, minutes), written as the insights
    job writes them."""
    from agent.store import insight_state, rollup_writes

    with insight_state.immediate(engine) as conn:
        usage: dict[tuple[str, str, int, str, str], list[int]] = {}
        hours: dict[tuple[str, str, int], list[int]] = {}
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        start = int(datetime(day.year, day.month, day.day, tzinfo=TZ).timestamp() // 60)
        for app, (hour, length) in apps.items():
            counted = {start + hour * 60 + i for i in range(length)}
            for _ in rollup_writes.add_counted(conn, child, "app", app, counted):
                usage.setdefault((child, day.isoformat(), hour, "app", app), [0, 3, 1])[0] += 1
            for m in rollup_writes.add_active(conn, child, counted):
                hours.setdefault((child, day.isoformat(), hour), [0, 3, 1])[0] += 1
                lo, hi = spans.get((child, day.isoformat()), (m, m))
                spans[(child, day.isoformat())] = (min(lo, m), max(hi, m))
        rollup_writes.add_usage(conn, usage)
        rollup_writes.add_child_totals(conn, hours, spans)
        rollup_writes.add_blocked(conn, {(child, day.isoformat(), "age:tiktok"): 3})


def _verdict(engine: Any, client_ip: str, name: str, now: datetime) -> Any:
    """What the rules engine answers now for `name` asked by `client_ip`, over the household
    as stored (what the DNS loads after its next poll)."""
    from agent.lists.index import IndexBuilder
    from agent.rules.catalog import load_catalog
    from agent.rules.decide import decide
    from agent.rules.policy import Policy
    from agent.store.household import load_household

    catalog = load_catalog()
    builder = IndexBuilder()
    for domain, source, category, app in catalog.index_entries():
        builder.add(domain, source, category, app)
    policy = Policy(builder.build(), load_household(engine), catalog)
    return decide(policy, client_ip, name, 1, now)


@pytest.fixture
def add_activity(engine: Any) -> Any:
    """add_activity(child, day, {app: (hour, minutes)}): activity as the insights job writes it."""
    return lambda child, day, apps: _add_activity(engine, child, day, apps)


@pytest.fixture
def verdict(engine: Any) -> Any:
    """verdict(client_ip, name, now): what the rules engine answers over the stored household."""
    return lambda client_ip, name, now: _verdict(engine, client_ip, name, now)
