"""The DNS process's plain-sqlite3 view of the household equals the store's own."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from contextlib import closing
from dataclasses import fields as dataclass_fields
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from agent.rules.budgets import week_of
from agent.rules.household import Device, Overlay, Pause, RuleEntry, Schedule
from agent.store import rollup_writes
from agent.store.budgets import (
    BudgetRow,
    BudgetUseRow,
    add_extra_time,
    record_use,
    set_budget,
)
from agent.store.db import init_db, make_engine
from agent.store.household import (
    add_child,
    add_rule,
    add_schedule,
    load_household,
    pause,
    record_seen,
    set_child_settings,
)
from agent.store.household_devices import add_device
from agent.store.household_follower import HouseholdFollower
from agent.store.household_tables import ChildRow, DeviceRow, PauseRow, RuleRow, ScheduleRow
from agent.store.overlays import OverlayRow, add_overlay
from agent.store.snapshot import (
    TABLES,
    SnapshotUnavailable,
    VersionReader,
    read_household,
    read_table,
    read_version,
)


def fill_household(engine, counted: bool = True) -> None:
    """A household with a row in every table the snapshot reads (also used on PostgreSQL,
    where `counted` False writes the minutes used as a row: the rollups are SQLite's own)."""
    sam = add_child(engine, "Sam", date(2014, 3, 1))
    alex = add_child(engine, "Alex", date(2010, 6, 1))
    set_child_settings(
        engine, alex.id, protections_on=False, youtube_level="moderate", safe_search=False
    )
    add_device(
        engine,
        mac="aa:bb:cc:dd:ee:01",
        ip="192.168.1.20",
        name="tablet",
        owner="child",
        child_id=sam.id,
        inspect=True,
    )
    add_device(engine, ip="192.168.1.21", owner="shared", shared_with=[sam.id, alex.id])
    record_seen(engine, {"192.168.1.50": ("aa:bb:cc:dd:ee:50", 1.7e9)})
    add_rule(engine, sam.id, "allow", "app", "minecraft")
    add_schedule(engine, sam.id, "Bedtime", [0, 1, 6], time(20, 30), time(7, 0), block_all=True)
    add_schedule(
        engine,
        alex.id,
        "School",
        [0, 1, 2, 3, 4],
        time(9),
        time(15),
        block=["gaming"],
        allow=["bbc.co.uk"],
    )
    until = datetime(2026, 11, 21, 19, 30, tzinfo=ZoneInfo("Europe/London"))
    pause(engine, until, child_id=sam.id)
    add_overlay(
        engine, alex.id, "unblock", until, until - timedelta(hours=1), target_kind="app",
        target="roblox",
    )  # fmt: skip

    games = set_budget(engine, sam.id, "category", "gaming", week_of(60, 120))
    add_extra_time(engine, games, 15, until)
    if not counted:
        with Session(engine) as session:
            session.add(
                BudgetUseRow(budget_id=games.id, day="2026-11-21", minutes=10, updated=until)
            )
            session.commit()
        return
    last = int(until.timestamp() // 60)
    with engine.begin() as conn:
        rollup_writes.add_counted(conn, "Sam", "app", "roblox", set(range(last - 9, last + 1)))
    record_use(engine, {sam.id: "Sam"}, {"roblox": "gaming"}, until)


MODELS = (ChildRow, DeviceRow, RuleRow, ScheduleRow, PauseRow, OverlayRow, BudgetRow, BudgetUseRow)


def assert_rows_are_the_models_columns(read) -> None:
    """What the plain reader sees of each table is the model's columns, as the model's types."""
    models = {m.__tablename__: m for m in MODELS}
    assert set(models) == set(TABLES)
    for name, model in models.items():
        columns = model.__table__.columns
        rows = read(name)
        assert rows, name
        for row in rows:
            assert list(vars(row)) == [c.name for c in columns], name
            for c in columns:
                value = getattr(row, c.name)
                assert value is None or isinstance(value, c.type.python_type), (name, c.name)


def test_the_snapshot_matches_the_household_store(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/hr.db")
    init_db(engine)
    fill_household(engine)
    expected = load_household(engine)
    got = read_household(tmp_path / "hr.db")
    assert got == expected
    assert got.budgets and got.budgets[0].days == (60, 60, 60, 60, 60, 120, 120)
    assert got.budgets[0].used == 10 and got.overlays[-1].minutes == 15
    assert read_version(tmp_path / "hr.db") == expected.version > 0

    with closing(sqlite3.connect(tmp_path / "hr.db")) as conn:
        assert_rows_are_the_models_columns(lambda name: read_table(conn, name))


def test_a_missing_or_unmigrated_database_is_reported_not_raised_as_sqlite(tmp_path):
    with pytest.raises(SnapshotUnavailable):
        read_version(tmp_path / "nothing.db")
    (tmp_path / "empty.db").touch()
    with pytest.raises(SnapshotUnavailable):
        read_household(tmp_path / "empty.db")


def test_the_follower_reads_again_only_when_the_version_moves(tmp_path, caplog):
    path = tmp_path / "hr.db"
    follower = HouseholdFollower(path, "sqlite:///hr.db", "the strictest defaults apply")
    assert follower.poll() is None and follower.poll() is None  # no database yet
    assert caplog.text.count("house rules unavailable") == 1  # said once
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    add_child(engine, "Sam", date(2015, 6, 1))
    first = follower.poll()
    assert first is not None and [c.name for c in first.children] == ["Sam"]
    assert follower.poll() is None  # nothing changed
    add_child(engine, "Alex", date(2016, 1, 1))
    assert [c.name for c in follower.poll().children] == ["Sam", "Alex"]
    assert HouseholdFollower(None, "postgresql://box/hr", "x").poll() is None
    assert "postgresql://box/hr is not a database this process reads" in caplog.text


@pytest.mark.parametrize(
    ("entry", "model"),
    [
        (Schedule, ScheduleRow),
        (Device, DeviceRow),
        (RuleEntry, RuleRow),
        (Pause, PauseRow),
        (Overlay, OverlayRow),
    ],
)
def test_a_snapshot_entry_has_a_field_for_each_column_and_no_other(entry, model):
    """A new column and its field go together: what the snapshot carries is what is stored."""
    columns = {c.name for c in model.__table__.columns}
    assert {f.name for f in dataclass_fields(entry) if f.init} == columns


def test_the_version_is_read_on_one_connection_kept_open_and_follows_the_file(tmp_path):
    """The DNS process's once-a-second poll: one connection between polls (opening the file
    each time cost ~0.55 ms of CPU), yet every change is seen, a restored file is read (not
    the one it replaced), a missing file says so, and polling from the ticker's thread after
    a first read at start works."""
    path = tmp_path / "hr.db"
    reader = VersionReader()
    with pytest.raises(SnapshotUnavailable):
        reader(path)  # no database yet
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    add_child(engine, "Sam", date(2015, 6, 1))
    first = reader(path)
    conn = reader._conn
    add_child(engine, "Alex", date(2016, 1, 1))
    assert reader(path) == first + 1 and reader._conn is conn  # seen, on the same connection
    with closing(sqlite3.connect(path)) as writer:  # no read left open: the WAL empties
        busy, _, _ = writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
    engine.dispose()
    other = tmp_path / "restored.db"
    shutil.copy(path, other)
    with closing(sqlite3.connect(other)) as restore:
        restore.execute("UPDATE household_meta SET version = 99 WHERE id = 1")
        restore.commit()
    other.replace(path)  # a restore puts another file at the path
    seen: list[int] = []
    poll = threading.Thread(target=lambda: seen.append(reader(path)))  # the ticker's thread
    poll.start()
    poll.join(10)
    assert seen == [99]
    path.unlink()
    with pytest.raises(SnapshotUnavailable):
        reader(path)
    assert reader._conn is None
    reader.close()
