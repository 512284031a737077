"""The policy keeper: the household from a real SQLite file, swapped when its version moves;
neighbours; a newly saved index mapped; a database that goes away keeps the last rules."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from agent.config import BlocklistsConfig, Config, RulesConfig, StoreConfig
from agent.lists.index import IndexBuilder
from agent.proxy.clients import asker
from agent.proxy.policykeeper import PolicyKeeper
from agent.store import db
from agent.store import household as store
from agent.store.snapshot import SnapshotUnavailable

from proxytools import CATALOG, SAFESEARCH


def small_index(*names: str):
    builder = IndexBuilder()
    for name in names:
        builder.add(name, "gambling", "gambling")
    return builder.build()


@pytest.fixture
def cfg(tmp_path) -> Config:
    return Config(
        store=StoreConfig(url=f"sqlite:///{tmp_path / 'hr.db'}"),
        blocklists=BlocklistsConfig(compiled_dir=tmp_path / "index"),
        rules=RulesConfig(household_poll_seconds=0.1, neighbour_refresh_seconds=0.0),
        base_dir=tmp_path,
    )


@pytest.fixture
def engine(cfg):
    engine = db.make_engine(cfg.database_url)
    db.init_db(engine)
    return engine


def keeper(cfg: Config, neighbours: dict[str, str] | None = None, **kw) -> PolicyKeeper:
    return PolicyKeeper(
        cfg, catalog=CATALOG, safesearch=SAFESEARCH, index=small_index("casino.test"),
        read_neighbours=lambda: neighbours or {}, **kw,
    )  # fmt: skip


def test_the_household_is_read_and_swapped_when_a_parent_changes_it(cfg, engine):
    k = keeper(cfg)
    assert k.current.household is None
    k.tick()
    assert k.current.household is not None and not asker(k.current, "192.168.1.10").inspected
    sam = store.add_child(engine, "Sam", date(2015, 6, 1))
    store.add_device(engine, ip="192.168.1.10", owner="child", child_id=sam.id, inspect=True)
    generation = k.current.generation
    assert k.refresh_household() is True
    assert asker(k.current, "192.168.1.10").inspected
    assert k.refresh_household() is False and k.current.generation == generation + 1


def test_the_thread_keeps_it_fresh(cfg, engine):
    k = keeper(cfg)
    k.start()
    try:
        store.add_child(engine, "Alex", date(2016, 1, 1))
        deadline = time.monotonic() + 5
        while k.current.household is None or not k.current.household.children:
            assert time.monotonic() < deadline, "not picked up within 5 s"
            time.sleep(0.05)
    finally:
        k.stop()


def test_neighbours_are_read(cfg, engine):
    k = keeper(cfg, {"192.168.1.10": "02:00:00:00:00:10"})
    k.tick()
    assert k.current.neighbours == {"192.168.1.10": "02:00:00:00:00:10"}


def test_a_newly_saved_index_is_mapped(cfg, engine):
    k = keeper(cfg)
    assert k.refresh_index() is False  # nothing saved yet
    small_index("new.test").save(Path(cfg.blocklists.compiled_dir))
    assert k.refresh_index() is True
    assert k.current.index.lookup("new.test").categories == {"gambling"}
    assert k.refresh_index() is False


def test_a_database_that_goes_away_keeps_the_last_rules(cfg, engine, caplog):
    def gone(path):
        raise SnapshotUnavailable(f"{path}: the disk is full")

    k = keeper(cfg)
    store.add_child(engine, "Sam", date(2015, 6, 1))
    assert k.refresh_household() is True
    k.household.read_version = gone
    store.add_child(engine, "Alex", date(2016, 1, 1))
    assert k.refresh_household() is False
    assert k.refresh_household() is False
    assert [c.name for c in k.current.household.children] == ["Sam"]
    assert caplog.text.count("house rules unavailable") == 1  # said once, not every second


def test_no_database_yet_means_no_household(tmp_path):
    cfg = Config(store=StoreConfig(url=f"sqlite:///{tmp_path / 'none.db'}"), base_dir=tmp_path)
    k = keeper(cfg)
    assert k.refresh_household() is False and k.current.household is None


def test_on_postgresql_the_household_is_read_as_the_dns_process_reads_it(tmp_path, pg_url):
    """A box whose household lives in PostgreSQL (two boxes sharing it): the proxy follows it
    too, instead of refusing to start."""
    from agent.proxy.runtime import build
    from agent.store.migrate import migrate

    migrate(pg_url)
    cfg = Config(
        store=StoreConfig(url=pg_url),
        blocklists=BlocklistsConfig(compiled_dir=tmp_path / "index"),
        rules=RulesConfig(household_poll_seconds=0.1, neighbour_refresh_seconds=0.0),
        base_dir=tmp_path,
    )
    engine = db.make_engine(pg_url)
    try:
        k = keeper(cfg)
        k.tick()
        assert k.current.household is not None, k.household.problem
        assert not asker(k.current, "192.168.1.10").inspected
        sam = store.add_child(engine, "Sam", date(2015, 6, 1))
        store.add_device(engine, ip="192.168.1.10", owner="child", child_id=sam.id, inspect=True)
        assert k.refresh_household() is True
        assert asker(k.current, "192.168.1.10").inspected
        k.household.close()
        assert build(cfg).keeper.household.source == pg_url  # the proxy starts on it
    finally:
        engine.dispose()
