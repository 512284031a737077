"""Moving a home into PostgreSQL: a box's SQLite store, filled through the real store functions,
copied into a real PostgreSQL and back into a fresh SQLite file, loses nothing; a target that
already holds a household is refused; mistakes in the target name their cause."""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import closing
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlmodel import SQLModel

from agent import cli
from agent.config import Config, RulesConfig
from agent.events.contacts import Contact, ContactKind
from agent.household import requests as child_requests
from agent.insights.job import InsightsJob
from agent.rules.catalog import load_catalog
from agent.store import (
    accounts,
    api_tokens,
    budgets,
    carers,
    contacts,
    digest,
    lease,
    overlays,
    talk,
)
from agent.store import household as store
from agent.store.copy import CopyError, copy_database
from agent.store.db import make_engine
from agent.store.migrate import import_tables, migrate
from agent.store.querylog import QueryLogWriter
from tests import pgtools

import synthweek as sw

pg_server, pg_url = pgtools.pg_server, pgtools.pg_url  # the fixtures, for pytest
CFG = Config(rules=RulesConfig(timezone="Europe/London"))
NOW = sw.END


def fill(db: Path) -> None:
    """A household with a week of history, through the functions the box itself uses."""
    url = f"sqlite:///{db}"
    migrate(url)
    engine = make_engine(url)
    try:
        household = sw.build_household(engine)
        sam, alex = household.children[0], household.children[1]
        bedtime = next(s for s in household.schedules if s.child_id == sam.id)
        overlays.add_overlay(
            engine, sam.id, "more_time", NOW + timedelta(hours=1), NOW, schedule_id=bedtime.id
        )
        overlays.add_overlay(
            engine, alex.id, "unblock", NOW + timedelta(hours=2), NOW, target_kind="app",
            target="roblox",
        )  # fmt: skip
        games = budgets.set_budget(engine, sam.id, "category", "gaming", (60,) * 7)
        budgets.add_extra_time(engine, games, 15, NOW)
        store.pause(engine, NOW + timedelta(minutes=30), child_id=alex.id)
        accounts.create_account(engine, "Jo", "a long family passphrase", NOW, first=True)
        accounts.note_failure(engine, "192.168.1.11", NOW, allowed=5, base=1.0, cap=60.0)
        gran = carers.add_carer(engine, "Gran", "gran@example.org", ["Sam", "Alex"], now=NOW)
        carers.add_carer(engine, "Dad", "dad@example.org", ["Alex"], alerts=True, now=NOW)
        api_tokens.create_token(engine, "grafana", "read", NOW)
        talk.mark_discussed(engine, sam.id, "strangers-online", NOW, "talked at tea")
        contacts.record_contacts(
            engine, "Sam", [Contact("roblox", "12345", ContactKind.FRIEND, "builder", "Ben")], NOW
        )
        contacts.note_listing(engine, "Sam", "roblox:friends", NOW)
        child_requests.add_request(engine, alex.id, "more_time", NOW, minutes=30, message="hw")

        # the insights job last ran during Sam's Zoom call on Thursday: a session is open
        call = sw.at(3, 16, 10)
        rows = sw.generate(household, load_catalog())
        writer = QueryLogWriter(db, flush_interval=0.01)
        writer.start()
        for row in (r for r in rows if r.ts < call.timestamp()):
            assert writer.submit(row)
        assert writer.flush()
        job = InsightsJob(engine, load_catalog(), CFG)
        job.run(store.load_household(engine), sw.presence(call), call)
        for row in (r for r in rows if r.ts >= call.timestamp()):
            assert writer.submit(row)
        assert writer.flush()
        writer.stop()
        budgets.record_use(engine, {sam.id: "Sam", alex.id: "Alex"}, {"roblox": "gaming"}, NOW)

        claimed = digest.claim_digest(engine, gran.id, "2026-W47", NOW, NOW)
        assert claimed is not None
        digest.finish(engine, claimed, NOW)
        with engine.connect() as conn:
            alert_ids = [r[0] for r in conn.execute(text("SELECT id FROM events LIMIT 2"))]
        digest.queue_alert_email(engine, gran.id, alert_ids, NOW)
        # the box's jobs process did the household's jobs (agent.ops.leader)
        lease.hold(engine, lease.HOUSEHOLD, "kitchen:41:ab", "kitchen", 30, now=NOW.timestamp())
    finally:
        engine.dispose()


def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as the store reads it, in primary-key order."""
    import_tables()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t.name: [
                    tuple(r)
                    for r in conn.execute(select(t).order_by(*(t.primary_key.columns or t.c)))
                ]
                for t in SQLModel.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def household(url: str) -> store.Household:
    engine = make_engine(url)
    try:
        return store.load_household(engine)
    finally:
        engine.dispose()


@pytest.fixture
def pg(pg_url: str) -> str:
    """A new PostgreSQL database, at the newest schema."""
    migrate(pg_url)
    return pg_url


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("home") / "houserules.db"
    fill(db)
    return db


def test_every_table_has_rows_to_copy(home: Path) -> None:
    """The round trip below only proves something for tables that hold rows."""
    empty = [name for name, rows in every_row(f"sqlite:///{home}").items() if not rows]
    assert empty == []


def test_a_round_trip_through_postgresql_loses_nothing(home: Path, pg: str, tmp_path: Path) -> None:
    source = f"sqlite:///{home}"
    there = copy_database(source, pg, batch_rows=500)
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    back = copy_database(pg, back_url)

    before = every_row(source)
    assert there.counts == back.counts == {name: len(rows) for name, rows in before.items()}
    assert there.counts["query_log"] > 1_000  # more than one batch
    assert every_row(back_url) == before
    assert every_row(pg) == before
    assert household(back_url) == household(source)


def test_postgresql_numbers_new_rows_after_the_copied_ones(home: Path, pg: str) -> None:
    copy_database(f"sqlite:///{home}", pg)
    engine = make_engine(pg)
    try:
        with engine.begin() as conn:
            top = conn.execute(text("SELECT max(id) FROM query_log")).scalar_one()
            new = conn.execute(
                text(
                    "INSERT INTO query_log (ts, client, name, qtype, action, rule, reason, "
                    "cached) VALUES (1, '192.168.1.5', 'example.org', 'A', 'allow', '', '', "
                    "false) RETURNING id"
                )
            ).scalar_one()
        assert new == top + 1
        added = store.add_child(engine, "Robin", date(2019, 1, 2))
        assert added.id > max(c.id for c in household(f"sqlite:///{home}").children)
    finally:
        engine.dispose()


def test_a_target_that_holds_a_household_is_refused_unless_replaced(
    home: Path, pg: str, tmp_path: Path
) -> None:
    other = tmp_path / "other.db"
    migrate(f"sqlite:///{other}")
    engine = make_engine(f"sqlite:///{other}")
    store.add_child(engine, "Kit", date(2016, 2, 2))
    engine.dispose()
    copy_database(f"sqlite:///{other}", pg)
    version = household(pg).version

    with pytest.raises(CopyError, match=r"already holds a household \(children: 1 rows"):
        copy_database(f"sqlite:///{home}", pg)
    assert [c.name for c in household(pg).children] == ["Kit"]  # untouched

    report = copy_database(f"sqlite:///{home}", pg, replace=True)
    assert "children: 1 rows" in report.replaced
    moved = household(pg)
    assert [c.name for c in moved.children] == ["Sam", "Alex"]
    assert moved.version > max(version, household(f"sqlite:///{home}").version)
    expected = dataclasses.replace(household(f"sqlite:///{home}"), version=moved.version)
    assert moved == expected


def test_a_failed_copy_leaves_the_target_as_it_was(home: Path, pg: str) -> None:
    """A row PostgreSQL refuses after other tables went in (a rule for a child who is not
    there, which SQLite kept while its foreign keys were off) rolls the whole copy back."""
    broken = home.parent / "broken.db"
    copy_database(f"sqlite:///{home}", f"sqlite:///{broken}")
    with closing(sqlite3.connect(broken)) as conn:
        conn.execute("UPDATE rules SET child_id = 999")
        conn.commit()
    with pytest.raises(CopyError, match="rows of rules could not be written.*child"):
        copy_database(f"sqlite:///{broken}", pg)
    counts = every_row(pg)
    assert {n: len(r) for n, r in counts.items() if r} == {}


@pytest.mark.parametrize(
    ("target", "cause"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://me@host/db", "in SQLite or PostgreSQL, not mysql"),
        ("oracle+cx_oracle://me@host/db", "in SQLite or PostgreSQL, not oracle"),
        ("postgresql+psycopg2://me@host/db", "use postgresql:// \\(psycopg 3\\), not psycopg2"),
        ("postgres://me@127.0.0.1:1/houserules", "PostgreSQL server at 127.0.0.1:1"),
        ("postgresql://me@127.0.0.1:1/houserules", "PostgreSQL server at 127.0.0.1:1"),
        ("postgresql://me:secret@127.0.0.1:1/houserules", "me:\\*\\*\\*@127.0.0.1:1"),
    ],
)
def test_a_bad_target_is_named_with_its_cause(home: Path, target: str, cause: str) -> None:
    with pytest.raises(CopyError, match=cause) as caught:
        copy_database(f"sqlite:///{home}", target)
    assert "secret" not in str(caught.value)


def test_the_command_copies_the_configured_database_and_prints_the_counts(
    home: Path, pg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{home}"\n')
    assert cli.main(["--config", str(config), "store", "copy", "--to", pg]) == 0
    out = capsys.readouterr().out
    assert "query_log" in out and "every table's rows counted again" in out
    assert cli.main(["--config", str(config), "store", "copy", "--to", pg]) == 1
    assert "--replace" in capsys.readouterr().err


def test_without_the_postgresql_driver_the_command_says_what_to_install(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """psycopg cannot be uninstalled for one test: its absence is what find_spec reports."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a)
    )
    with pytest.raises(CopyError, match=r"pip install 'houserules\[postgres\]'"):
        copy_database(f"sqlite:///{home}", "postgresql://me@127.0.0.1/houserules")
