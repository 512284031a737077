"""The DNS process's plain-psycopg view of a household on PostgreSQL equals the store's own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date

import psycopg
import pytest
from test_store_snapshot import assert_rows_are_the_models_columns, fill_household

from agent.store.db import init_db, make_engine
from agent.store.household import add_child, load_household
from agent.store.household_follower import HouseholdFollower
from agent.store.pgsnapshot import APPLICATION_NAME, READ_SECONDS, PgSnapshot
from agent.store.snapshot import SnapshotUnavailable, household_from
from agent.store.urls import is_postgres as is_postgres_url
from agent.store.urls import libpq_url
from agent.store.urls import shown as masked_url
from tests.pgtools import PgServer


def engine_for(url: str):
    """The store's engine on PostgreSQL (SQLAlchemy wants psycopg 3 named in the URL)."""
    engine = make_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    init_db(engine)
    return engine


@pytest.fixture
def reader_for():
    """PgSnapshot readers, each closed (connection and watchdog) after the test."""
    made: list[PgSnapshot] = []

    def make(url: str, **kwargs) -> PgSnapshot:
        made.append(PgSnapshot(url, **kwargs))
        return made[-1]

    yield make
    for reader in made:
        reader.close()


def test_the_postgresql_snapshot_matches_the_household_store(pg_url, reader_for):  # noqa: F811
    engine = engine_for(pg_url)
    fill_household(engine, counted=False)
    reader = reader_for(pg_url)
    rows = reader.read_rows()
    expected = load_household(engine)
    assert household_from(rows, "pg") == expected
    assert reader.read_version() == expected.version > 0
    # psycopg hands back dates, times and booleans typed: the same types as SQLite's parsed ones
    assert_rows_are_the_models_columns(lambda name: rows.tables[name])


def test_the_version_poll_is_one_small_select_on_one_connection(pg_url, reader_for):  # noqa: F811
    engine = engine_for(pg_url)
    add_child(engine, "Sam", date(2015, 6, 1))
    reader = reader_for(pg_url)
    reader.read_version()
    started = time.perf_counter()
    for _ in range(200):
        reader.read_version()
    each_ms = (time.perf_counter() - started) / 200 * 1000
    with psycopg.connect(pg_url) as conn:
        sessions = conn.execute(
            "SELECT count(*), max(query) FROM pg_stat_activity"
            " WHERE application_name = %s AND datname = current_database()",
            (APPLICATION_NAME,),
        ).fetchone()
    assert sessions == (1, "SELECT version FROM household_meta WHERE id = 1")
    assert each_ms < 20, f"{each_ms:.2f} ms a poll"  # about 0.1 ms on loopback


def test_a_database_without_the_tables_is_reported_not_raised_as_psycopg(pg_url, reader_for):  # noqa: F811
    reader = reader_for(pg_url)
    with pytest.raises(SnapshotUnavailable, match="household_meta"):
        reader.read_version()


def test_a_stopped_server_is_reported_quickly_and_not_asked_every_second(reader_for):
    server = PgServer()
    try:
        url = server.create_database()
        engine_for(url).dispose()
        now = [100.0]
        reader = reader_for(url, clock=lambda: now[0])
        assert reader.read_version() == 0
        server.stop()
        started = time.monotonic()
        with pytest.raises(SnapshotUnavailable) as first:
            reader.read_version()
        with pytest.raises(SnapshotUnavailable) as again:  # no new attempt yet: same words
            reader.read_version()
        assert time.monotonic() - started < 3.0
        assert str(again.value) == str(first.value) and reader.failures == 1
        server.start()
        now[0] += 1.0  # the first retry comes half a second after a failure
        assert reader.read_version() == 0 and reader.failures == 0
    finally:
        server.close()


def test_urls_are_recognised_and_passwords_never_shown():
    assert is_postgres_url("postgresql://box/hr") and is_postgres_url("postgres://box/hr")
    assert is_postgres_url("postgresql+psycopg://box/hr")
    assert not is_postgres_url("sqlite:///data/houserules.db")
    assert libpq_url("postgresql+psycopg://u@box/hr") == "postgresql://u@box/hr"
    assert masked_url("postgresql://hr:s3cret@box:5432/hr") == "postgresql://hr@box:5432/hr"
    assert masked_url("sqlite:///data/hr.db") == "sqlite:///data/hr.db"
    follower = HouseholdFollower("postgresql://hr:s3cret@127.0.0.1:9/hr", "x", "y")
    with pytest.raises(SnapshotUnavailable) as caught:
        follower.read_version("")
    assert "s3cret" not in str(caught.value)


def test_only_a_postgresql_box_loads_the_driver_and_neither_loads_the_orm(pg_url):  # noqa: F811
    code = (
        "import sys\n"
        "from agent.config import Config, StoreConfig\n"
        "from agent.store.household_follower import household_source\n"
        "from agent.store.household_follower import HouseholdFollower\n"
        "HouseholdFollower(household_source(Config(store=StoreConfig(url={url!r}))), 'x', 'y')"
        ".poll()\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'alembic', 'pydantic')\n"
        "print('psycopg' in sys.modules, [m for m in heavy if m in sys.modules])"
    )
    for url, driver in (("sqlite:///nothing/hr.db", "False"), (pg_url, "True")):
        done = subprocess.run(
            [sys.executable, "-c", code.format(url=url)],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        assert done.stdout.strip() == f"{driver} []", (url, done.stderr)


def test_a_server_that_hangs_mid_read_is_cut_off_not_waited_for(pg_url, reader_for):  # noqa: F811
    """A backend that stops answering while its kernel still acknowledges (frozen, swapped
    out): no timeout of the server's or the kernel's ends the wait; the watchdog does."""
    engine_for(pg_url).dispose()
    reader = reader_for(pg_url)
    assert reader.read_version() == 0
    backend = reader.conn.info.backend_pid
    os.kill(backend, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(SnapshotUnavailable):
            reader.read_version()
        took = time.monotonic() - started
    finally:
        os.kill(backend, signal.SIGCONT)
    assert READ_SECONDS <= took < READ_SECONDS + 3 and reader.cuts == 1
    reader.next_try = 0.0  # no back-off wait in the test
    assert reader.read_version() == 0  # a new connection, a new backend
    assert reader.conn.info.backend_pid != backend
