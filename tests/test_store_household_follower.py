"""Following the household: read again when it moves; with the database away, the last one read,
or the copy kept on disk, or (with neither) nothing, so the strictest defaults apply."""

from __future__ import annotations

import logging
import sys
from datetime import date

import pytest

from agent.store.db import init_db, make_engine
from agent.store.household import add_child, load_household
from agent.store.household_follower import HouseholdFollower
from agent.store.snapshot import SnapshotUnavailable, read_rows, read_version

WHERE = "postgresql://houserules@192.0.2.1:5432/hr"
STRICT = "the strictest defaults apply"


class Database:
    """A real SQLite household that the test can make unreadable, as a stopped server is."""

    def __init__(self, tmp_path) -> None:
        self.path = tmp_path / "hr.db"
        self.engine = make_engine(f"sqlite:///{self.path}")
        init_db(self.engine)
        self.away = False

    def read_version(self, path):
        if self.away:
            raise SnapshotUnavailable(f"{WHERE}: connection refused")
        return read_version(path)

    def read_rows(self, path):
        if self.away:
            raise SnapshotUnavailable(f"{WHERE}: connection refused")
        return read_rows(path)

    def follower(self, copy) -> HouseholdFollower:
        return HouseholdFollower(
            self.path, WHERE, STRICT, self.read_version, self.read_rows, copy=copy
        )


@pytest.fixture
def db(tmp_path) -> Database:
    return Database(tmp_path)


@pytest.fixture
def copy(tmp_path):
    return tmp_path / "data" / "household-copy.json"


def test_the_last_household_read_stays_while_the_database_is_away(db, copy, caplog):
    add_child(db.engine, "Sam", date(2015, 6, 1))
    follower = db.follower(copy)
    assert follower.poll() is not None
    db.away = True
    assert follower.poll() is None and follower.poll() is None  # nothing new: the last stays
    assert follower.state["read_from"] == "database"
    assert "connection refused" in follower.state["problem"]
    assert caplog.text.count("stay in force until it can be read again") == 1  # said once
    db.away = False
    add_child(db.engine, "Alex", date(2016, 1, 1))
    with caplog.at_level(logging.INFO):
        assert [c.name for c in follower.poll().children] == ["Sam", "Alex"]
    assert "the database can be read again" in caplog.text
    assert follower.state == {"version": follower.version, "read_from": "database", "problem": ""}


def test_a_start_while_the_database_is_away_uses_the_copy_then_the_database(db, copy, caplog):
    add_child(db.engine, "Sam", date(2015, 6, 1))
    expected = load_household(db.engine)
    assert db.follower(copy).poll() == expected  # the first process: read, copy kept
    db.away = True
    restarted = db.follower(copy)  # the process started again while the database is away
    assert restarted.poll() == expected
    assert restarted.state["read_from"] == "copy"
    assert f"using the copy kept on this box (version {expected.version}" in caplog.text
    assert restarted.poll() is None  # still away: the copy stays in force, said once
    assert caplog.text.count("using the copy") == 1
    db.away = False
    again = restarted.poll()  # back: read from the database, even at the same version
    assert again == expected and restarted.state["read_from"] == "database"


def test_with_neither_database_nor_copy_there_is_no_household(db, copy, caplog):
    db.away = True
    follower = db.follower(copy)
    assert follower.poll() is None and follower.poll() is None
    assert follower.state == {"version": None, "read_from": None, "problem": follower.problem}
    assert caplog.text.count(STRICT) == 1
    assert "there is no copy" in caplog.text


def test_a_copy_of_another_database_is_not_used(db, copy, caplog):
    add_child(db.engine, "Sam", date(2015, 6, 1))
    db.follower(copy).poll()
    db.away = True
    other = HouseholdFollower(
        db.path, "postgresql://houserules@192.0.2.2/hr", STRICT, db.read_version, db.read_rows,
        copy=copy,
    )  # fmt: skip
    assert other.poll() is None
    assert "is of another database" in caplog.text and STRICT in caplog.text


def test_a_copy_that_cannot_be_written_costs_nothing_but_a_line(db, tmp_path, caplog):
    add_child(db.engine, "Sam", date(2015, 6, 1))
    (tmp_path / "blocked").write_text("a file where the data folder should be")
    follower = db.follower(tmp_path / "blocked" / "household-copy.json")
    assert follower.poll() is not None
    assert "the copy of the house rules could not be saved" in caplog.text


def test_a_postgresql_box_without_its_driver_keeps_its_copy_and_names_the_fix(
    db, copy, caplog, monkeypatch
):
    add_child(db.engine, "Sam", date(2015, 6, 1))
    db.follower(copy).poll()  # the copy, kept while the driver was there
    monkeypatch.setitem(sys.modules, "psycopg", None)  # then the package is gone
    monkeypatch.delitem(sys.modules, "agent.store.pgsnapshot", raising=False)
    follower = HouseholdFollower(WHERE, WHERE, STRICT, copy=copy)
    assert [c.name for c in follower.poll().children] == ["Sam"]
    assert "pip install 'houserules[postgres]'" in caplog.text
