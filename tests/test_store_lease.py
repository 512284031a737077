"""The job lease row: one holder at a time, renewed by its holder, taken once it has run out, on
a real SQLite file and a real PostgreSQL alike; many processes asking at once, one gets it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from agent.store import lease
from agent.store.db import make_engine
from agent.store.migrate import migrate
from tests.pgtools import pg_server, pg_url  # noqa: F401

T = 1_800_000_000.0  # unix seconds: the tests' "now"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'lease.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)  # the real migrations make the table, on either database
    try:
        yield engine
    finally:
        engine.dispose()


def test_one_holder_renews_and_another_takes_over_only_once_it_has_run_out(engine: Engine) -> None:
    first = lease.hold(engine, "household", "a:1:x", "kitchen", 30, now=T)
    assert first is not None and first.box == "kitchen" and first.pid == 1 and first.live
    assert lease.hold(engine, "household", "b:2:y", "hall", 30, now=T + 5) is None
    again = lease.hold(engine, "household", "a:1:x", "kitchen", 30, now=T + 10)
    assert again is not None
    assert again.taken_at == first.taken_at and again.expires_at.timestamp() == T + 40
    assert lease.hold(engine, "household", "b:2:y", "hall", 30, now=T + 39.9) is None
    took = lease.hold(engine, "household", "b:2:y", "hall", 30, now=T + 40)
    assert took is not None and took.box == "hall" and took.taken_at.timestamp() == T + 40
    assert lease.hold(engine, "household", "a:1:x", "kitchen", 30, now=T + 41) is None
    seen = lease.current(engine, now=T + 41)
    assert seen is not None and seen.holder == "b:2:y" and seen.live
    assert (
        lease.current(engine, now=T + 71) is not None and not lease.current(engine, now=T + 71).live
    )


def test_a_lease_given_up_is_taken_at_once(engine: Engine) -> None:
    assert lease.hold(engine, "household", "a:1:x", "kitchen", 30, now=T) is not None
    assert not lease.release(engine, "household", "b:2:y", now=T + 1)  # not theirs to give
    assert lease.release(engine, "household", "a:1:x", now=T + 1)
    assert lease.hold(engine, "household", "b:2:y", "hall", 30, now=T + 1.5) is not None


def test_another_name_is_another_lease(engine: Engine) -> None:
    assert lease.hold(engine, "household", "a:1:x", "kitchen", 30, now=T) is not None
    assert lease.hold(engine, "other", "b:2:y", "hall", 30, now=T) is not None
    assert lease.current(engine, "nobody", now=T) is None


@pytest.mark.parametrize("expired", [False, True], ids=["new", "run out"])
def test_many_asking_at_once_exactly_one_gets_it(engine: Engine, expired: bool) -> None:
    if expired:
        assert lease.hold(engine, "household", "old:9:z", "attic", 30, now=T - 60) is not None
    start, got, lock = threading.Barrier(8), [], threading.Lock()

    def ask(i: int) -> None:
        start.wait()
        held = lease.hold(engine, "household", f"box{i}:{i}:r", f"box{i}", 30, now=T)
        with lock:
            got.append(held)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    winners = [h for h in got if h is not None]
    assert len(got) == 8 and len(winners) == 1
    assert lease.current(engine, now=T).holder == winners[0].holder  # type: ignore[union-attr]


def test_the_database_clock_is_used_when_no_time_is_given(engine: Engine) -> None:
    held = lease.hold(engine, "household", "a:1:x", "kitchen", 30)
    assert held is not None
    assert abs(held.taken_at.timestamp() - time.time()) < 5  # this host's clock and the server's
    assert abs((held.expires_at - held.taken_at).total_seconds() - 30) < 0.01
