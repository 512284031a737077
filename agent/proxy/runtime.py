"""What the addon works with, built once from the config: everything that reads a file or
starts a thread, so the hooks themselves only look things up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from agent.config import Config, HostPort
from agent.proxy.blockpage import kids_page
from agent.proxy.concerns import ConcernList, load_concerns
from agent.proxy.paths import PathRules, load_path_rules
from agent.proxy.policykeeper import PolicyKeeper
from agent.proxy.recorder import Recorder
from agent.proxy.searches import SearchEngines, engines_from
from agent.rules.catalog import Catalog, load_catalog
from agent.rules.policy import Policy
from agent.store import db
from agent.store.logpipe import LogPipe


class Keeper(Protocol):
    @property
    def current(self) -> Policy: ...


class Writer(Protocol):
    def event(self, item: Any) -> bool: ...

    def sighting(self, item: Any) -> bool: ...


@dataclass
class Runtime:
    cfg: Config
    catalog: Catalog
    keeper: Keeper
    recorder: Writer
    submit: Callable[[tuple], bool]  # a query-log row, never waiting
    paths: PathRules  # only the rules switched on
    concerns: ConcernList
    engines: SearchEngines
    tz: ZoneInfo
    starts: list[Any] = field(default_factory=list)  # things with start() and stop()

    @functools.cached_property
    def pinned(self) -> frozenset[str]:
        return frozenset(self.cfg.proxy.pinned_hosts)

    def kids_url_for(self, local_ip: str | None) -> str:
        """The child page as a device can reach it: a dashboard listening on every address
        (0.0.0.0) is reached at the address the device reached the proxy on."""
        if self.cfg.proxy.kids_url:
            return self.cfg.proxy.kids_url
        listen = self.cfg.dashboard.listen
        if listen.host in ("0.0.0.0", "::") and local_ip:
            listen = HostPort(local_ip, listen.port)
        return kids_page(str(listen))

    @property
    def max_body(self) -> int:
        return self.cfg.proxy.max_body_kb * 1024

    def start(self) -> None:
        for part in self.starts:
            part.start()

    def stop(self) -> None:
        for part in reversed(self.starts):
            part.stop()


def build(cfg: Config) -> Runtime:
    """Everything from the config (the lists, the household, the data files); raises the
    loaders' own errors, each naming the file and what is wrong."""
    p = cfg.proxy
    catalog = load_catalog()
    keeper = PolicyKeeper(cfg, catalog=catalog)
    rules = load_path_rules(cfg.resolve(p.path_rules) if p.path_rules else None)
    paths = rules.enabled(p.block_paths)
    unknown = sorted({r.app for r in paths.rules} - set(catalog.apps))
    if unknown:
        raise ValueError(f"path rules: app {unknown[0]!r} is not in the app catalogue")
    concerns = load_concerns(cfg.resolve(p.concerns) if p.concerns else None)
    recorder = Recorder(lambda: db.make_engine(cfg.database_url), catalog, p.queue_size)
    writer = LogPipe.for_config(cfg)
    safesearch = keeper.current.safesearch
    assert safesearch is not None
    return Runtime(
        cfg=cfg,
        catalog=catalog,
        keeper=keeper,
        recorder=recorder,
        submit=writer.submit,
        paths=paths,
        concerns=concerns,
        engines=engines_from(safesearch),
        tz=ZoneInfo(cfg.rules.timezone),
        starts=[keeper, recorder, writer],
    )
