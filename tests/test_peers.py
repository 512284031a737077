"""`houserules doctor` with two boxes, against two real HouseRules DNS servers on loopback (each
the DNS process as `houserules run` starts it, in a thread of the test).

The two share one store, as two boxes share one database: a real PostgreSQL (which the DNS
process reads once pgdns's part of issue 21 is in; until then that test skips, saying so), and
one SQLite file for the rest: what doctor checks (the other box answers, both follow the same
household version) does not depend on where the version comes from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from agent import config as config_mod
from agent.config import HostPort
from agent.dns.boxinfo import NAME as VERSION_NAME
from agent.ops import doctor
from agent.ops.peers import check_peer, household_version
from agent.store import household as store
from agent.store.db import make_engine
from agent.store.migrate import migrate
from tests import pgtools

from agenttools import RunningAgent, until, write_config
from dnstools import Upstream

pg_server, pg_url = pgtools.pg_server, pgtools.pg_url  # the fixtures, for pytest


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream().start()
    yield server
    server.stop()


def box(folder: Path, upstream: Upstream, store_url: str) -> RunningAgent:
    folder.mkdir(parents=True, exist_ok=True)
    return RunningAgent(config_mod.load(write_config(folder, upstream.address, store_url)))


def follows(running: RunningAgent) -> str | None:
    """The household version a box says it follows, asked as doctor asks it."""
    return household_version(doctor.ask("127.0.0.1", running.port, VERSION_NAME, "TXT", 2.0))


def at(running: RunningAgent) -> HostPort:
    return HostPort("127.0.0.1", running.port)


def test_two_boxes_on_one_store_answer_and_agree(tmp_path: Path, upstream: Upstream) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    with box(tmp_path / "a", upstream, shared) as a, box(tmp_path / "b", upstream, shared) as b:
        found = check_peer(at(a), at(b))
        assert found.ok is True, found
        version = store.household_version(a.engine)
        assert found.detail == (
            f"127.0.0.1:{b.port} answers DNS; both boxes read one database and follow "
            f"household version {version}"
        )
        # a parent changes the household: both boxes follow it (doctor allows them a moment)
        store.add_child(a.engine, "Sam", date(2015, 3, 10))
        until(lambda: follows(a) == str(version + 1), what="box A to read the change")
        found = check_peer(at(a), at(b), settle=5.0)
        assert found.ok is True, found
        assert found.detail.endswith(f"household version {version + 1}")


def test_two_boxes_on_one_postgresql_answer_and_agree(
    tmp_path: Path, upstream: Upstream, pg_url: str
) -> None:
    """The same, as two boxes really share a household: one PostgreSQL database."""
    migrate(pg_url)
    engine = make_engine(pg_url)
    try:
        with box(tmp_path / "a", upstream, pg_url) as a, box(tmp_path / "b", upstream, pg_url) as b:
            assert check_peer(at(a), at(b)).ok is True
            store.add_child(engine, "Sam", date(2015, 3, 10))
            version = store.household_version(engine)
            until(lambda: follows(a) == follows(b) == str(version), what="both boxes to follow")
            found = check_peer(at(a), at(b))
            assert found.ok is True, found
            assert found.detail.endswith(f"follow household version {version}")
            assert "both boxes read one database" in found.detail
    finally:
        engine.dispose()


def test_two_boxes_on_two_postgresql_databases_are_told_apart_at_the_same_version(
    tmp_path: Path, upstream: Upstream, pg_server: pgtools.PgServer
) -> None:
    """Two fresh households are both at version 0: only which database each box reads tells
    that a change on one would never reach the other."""
    first, second = pg_server.create_database(), pg_server.create_database()
    migrate(first)
    migrate(second)
    with box(tmp_path / "a", upstream, first) as a, box(tmp_path / "b", upstream, second) as b:
        until(lambda: follows(a) == follows(b) == "0", what="both boxes at version 0")
        found = check_peer(at(a), at(b), settle=0.5)
        assert found.ok is False, found
        assert "reads a different database" in found.problem
        assert "same [store] url" in found.fix


def test_two_boxes_on_different_stores_are_told_apart(tmp_path: Path, upstream: Upstream) -> None:
    with (
        box(tmp_path / "a", upstream, f"sqlite:///{tmp_path / 'a.db'}") as a,
        box(tmp_path / "b", upstream, f"sqlite:///{tmp_path / 'b.db'}") as b,
    ):
        store.add_child(b.engine, "Sam", date(2015, 3, 10))
        store.add_child(b.engine, "Alex", date(2011, 6, 1))
        until(lambda: follows(b) == "2", what="box B to read its household")
        found = check_peer(at(a), at(b), settle=0.5)
        assert found.ok is False
        assert "reads a different database" in found.problem
        assert "same [store] url" in found.fix


def test_the_other_box_away_is_a_problem_with_its_fix(tmp_path: Path, upstream: Upstream) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    with box(tmp_path / "a", upstream, shared) as a:
        b = box(tmp_path / "b", upstream, shared)
        with b:
            peer = at(b)
        found = check_peer(at(a), peer, timeout=0.5)
        assert found.ok is False
        assert f"The other box at {peer} does not answer DNS" in found.problem
        assert "systemctl status houserules" in found.fix


def test_another_resolver_at_the_peer_address_is_not_houserules(
    tmp_path: Path, upstream: Upstream
) -> None:
    with box(tmp_path / "a", upstream, f"sqlite:///{tmp_path / 'a.db'}") as a:
        found = check_peer(at(a), HostPort("127.0.0.1", int(upstream.address.split(":")[1])))
        assert found.ok is False
        assert "but not as this version of HouseRules" in found.problem


def test_doctor_lists_the_other_box_from_the_config(tmp_path: Path, upstream: Upstream) -> None:
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    with box(tmp_path / "a", upstream, shared) as a, box(tmp_path / "b", upstream, shared) as b:
        cfg = a.agent.cfg
        cfg = config_mod.Config(
            **{**vars(cfg), "dns": config_mod.DnsConfig(listen=(at(a),), peers=(at(b),))}
        )
        [finding] = doctor.two_boxes(cfg, doctor.ask, 2.0)
        assert finding.ok is True and doctor.TITLES[finding.check] == "Other box"


def test_a_second_box_with_a_sqlite_store_is_told_to_use_postgresql(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    db = tmp_path / "hr.db"
    make_engine(f"sqlite:///{db}").dispose()
    config.write_text(f'[dns]\npeers = ["192.168.1.3"]\n[store]\nurl = "sqlite:///{db}"\n')
    found = doctor.check_database(config_mod.load(config))
    assert found.ok is False
    assert "which the other box cannot share" in found.problem
    assert "A second box" in found.fix
