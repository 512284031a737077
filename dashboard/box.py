"""What every page needs from the box: the config, the database, the clock and the catalogue.

One `Box` per application, kept in `app.extensions["houserules"]`; views reach it with `box()`.
The database comes from an engine factory (the jobs process hands over its engine), so a
database that cannot be opened shows a calm "unavailable" page instead of an error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy.engine import Engine

from agent.config import Config
from agent.dns.neighbours import read_neighbours
from agent.lists.index import IndexBuilder, ListIndex
from agent.rules.catalog import Catalog, load_catalog
from agent.rules.household import Household
from agent.rules.policy import Policy
from agent.rules.safesearch import load_safesearch
from agent.store import db
from agent.store.household import load_household

EngineFactory = Callable[[], Engine | None]


class Jobs(Protocol):
    """Where work a parent starts runs: the jobs process's scheduler (`agent.ops.scheduler`)."""

    def run_soon(self, name: str, fn: Callable[[], object]) -> bool: ...


Clock = Callable[[], datetime]
Neighbours = Callable[[], Mapping[str, str]]  # IP -> MAC, as agent.dns.neighbours reads it


class Unavailable(Exception):
    """The database cannot be used right now."""


@dataclass
class ListsUpdate:
    """The "update lists now" job's report, kept for the Settings page."""

    running: bool = False
    ok: bool | None = None
    lines: list[str] = field(default_factory=list)
    finished: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Box:
    def __init__(
        self,
        cfg: Config,
        engine_factory: EngineFactory | None,
        clock: Clock | None,
        neighbours: Neighbours | None = None,
        jobs: Jobs | None = None,
    ) -> None:
        self.cfg = cfg
        self._jobs = jobs
        self.tz = ZoneInfo(cfg.rules.timezone)
        self._engine_factory = engine_factory or self._own_engine
        self._engine: Engine | None = None
        self.clock = clock or (lambda: datetime.now(self.tz))
        self.neighbours = neighbours or read_neighbours
        self.catalog: Catalog = load_catalog()
        self.safesearch = load_safesearch()
        self.index = catalog_index(self.catalog)
        self.own_domain = own_domains(self.catalog)
        self.lists = ListsUpdate()
        self.accounts_exist = False  # remembered once true: the last account cannot go

    @property
    def jobs(self) -> Jobs:
        if self._jobs is None:  # the dashboard on its own (tests): a scheduler of its own
            from agent.ops.scheduler import Scheduler

            self._jobs = Scheduler(self.tz)
        return self._jobs

    def _own_engine(self) -> Engine | None:
        if self._engine is None:
            try:
                self._engine = db.make_engine(self.cfg.database_url)
            except db.StoreError:
                return None
        return self._engine

    def engine(self) -> Engine:
        engine = self._engine_factory()
        if engine is None:
            raise Unavailable("the database cannot be opened")
        return engine

    def now(self) -> datetime:
        return self.clock().astimezone(self.tz)

    def household(self) -> Household:
        return load_household(self.engine())

    def policy(self, household: Household) -> Policy:
        """A policy like the DNS's, over the app catalogue only (enough to say which apps a
        child may use; the big category lists stay with the DNS)."""
        base = Policy(self.index, None, self.catalog, self.safesearch, {}, self.cfg.rules)
        return replace(base, household=household)

    def app_lookup(self, app_id: str) -> tuple[str, frozenset[str]] | None:
        """For `agent.talk.suggest`: an app's category and risk flags."""
        app = self.catalog.get(app_id)
        return (app.category, app.flags) if app is not None else None

    def app_name(self, app_id: str | None) -> str | None:
        app = self.catalog.get(app_id) if app_id else None
        return app.name if app else app_id


def box() -> Box:
    return current_app.extensions["houserules"]


def catalog_index(catalog: Catalog) -> ListIndex:
    builder = IndexBuilder()
    for domain, source, category, app in catalog.index_entries():
        builder.add(domain, source, category, app)
    return builder.build("catalog")


def own_domains(catalog: Catalog) -> dict[str, str]:
    """App id -> a domain that app alone claims (else its first), to ask the rules about it."""
    claimed: dict[str, int] = {}
    for app in catalog.apps.values():
        for domain in app.domains:
            claimed[domain] = claimed.get(domain, 0) + 1
    return {
        app.id: next((d for d in app.domains if claimed[d] == 1), app.domains[0])
        for app in catalog.apps.values()
    }
