"""What the addon is built with, from a real config: the data files it names, the writers,
and the child page as a device can reach it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent import config as config_mod
from agent.cli import main as cli
from agent.config import DashboardConfig, HostPort
from agent.proxy.paths import PathRulesError
from agent.proxy.runtime import build

from agenttools import SHIPPED_BYPASS


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("runtime")
    path = tmp / "config.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp / "hr.db"}"\n'
        f'[blocklists]\ncompiled_dir = "{tmp / "index"}"\n'
        f'[[blocklists.sources]]\nname = "bypass"\ncategory = "bypass"\npath = "{SHIPPED_BYPASS}"\n'
        '[proxy]\nblock_paths = ["youtube-shorts"]\n'
    )
    assert cli(["--config", str(path), "init"]) == 0
    return path


def test_everything_is_built_from_the_config_and_starts_and_stops(config):
    rt = build(config_mod.load(config))
    assert [r.id for r in rt.paths.rules] == ["youtube-shorts"]
    assert rt.concerns.match("kill myself") is not None
    assert rt.engines.hosts["www.google.co.uk"][0] == "google"
    assert rt.keeper.current.index is not None and len(rt.starts) == 3
    rt.start()
    try:
        assert rt.keeper.current.household is not None  # read at start, before any connection
    finally:
        rt.stop()


def test_a_path_rule_that_does_not_exist_is_named(config, tmp_path):
    cfg = config_mod.load(config)
    cfg = replace(cfg, proxy=replace(cfg.proxy, block_paths=("tiktok-live",)))
    with pytest.raises(PathRulesError, match="tiktok-live"):
        build(cfg)


def test_a_path_rule_for_an_app_the_catalogue_lacks_is_refused(config, tmp_path):
    rules = Path(__file__).resolve().parent.parent / "blocklists" / "paths.toml"
    odd = tmp_path / "paths.toml"
    odd.write_text(rules.read_text().replace('app = "youtube"', 'app = "no-such-app"'))
    cfg = config_mod.load(config)
    cfg = replace(cfg, proxy=replace(cfg.proxy, path_rules=odd))
    with pytest.raises(ValueError, match="no-such-app"):
        build(cfg)


def test_the_proxy_starts_on_a_postgresql_store_even_while_it_is_away(config):
    """A box sharing its household through PostgreSQL runs the proxy too; with the database
    away it starts all the same and keeps the strictest rules until it can read it."""
    cfg = config_mod.load(config)
    cfg = replace(cfg, store=replace(cfg.store, url="postgresql://hr:s3cret@127.0.0.1:9/hr"))
    rt = build(cfg)
    follower = rt.keeper.household
    assert follower.source == cfg.store.url and "s3cret" not in follower.where
    rt.keeper.refresh_household()
    assert rt.keeper.current.household is None  # nothing read: the strict defaults stand
    assert follower.problem and "s3cret" not in follower.problem
    follower.close()


def test_the_child_page_as_a_device_reaches_it(config):
    rt = build(config_mod.load(config))
    assert rt.kids_url_for("192.168.1.2") == "http://127.0.0.1:8080/kids"
    rt.cfg = replace(rt.cfg, dashboard=DashboardConfig(HostPort("0.0.0.0", 8080)))
    assert rt.kids_url_for("192.168.1.2") == "http://192.168.1.2:8080/kids"
    rt.cfg = replace(rt.cfg, proxy=replace(rt.cfg.proxy, kids_url="https://box.home/kids"))
    assert rt.kids_url_for("192.168.1.2") == "https://box.home/kids"
