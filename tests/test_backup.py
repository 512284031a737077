"""Backup and restore: a round trip gives the same house rules; history only when asked; a
damaged, foreign or newer file is refused and leaves the database as it was."""

from __future__ import annotations

import dataclasses
import gzip
import json
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlmodel import SQLModel

from agent import cli
from agent.ops import backup
from agent.ops.backup import BackupError, restore_backup, write_backup
from agent.store import household as store
from agent.store.db import make_engine
from agent.store.migrate import migrate
from agent.store.querylog import LogEntry, QueryLogWriter

NOW = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


def new_box(folder: Path) -> Path:
    db = folder / "houserules.db"
    migrate(f"sqlite:///{db}")
    return db


def fill(db: Path) -> None:
    engine = make_engine(f"sqlite:///{db}")
    sam = store.add_child(engine, "Sam", date(2014, 5, 1))
    alex = store.add_child(engine, "Alex", date(2017, 9, 12))
    store.set_child_settings(engine, alex.id, youtube_level="strict", safe_search=False)
    ipad = store.add_device(
        engine,
        mac="aa:bb:cc:dd:ee:01",
        ip="192.168.1.20",
        name="Sam's iPad",
        owner="child",
        child_id=sam.id,
    )
    store.add_device(
        engine, ip="192.168.1.30", name="Family PC", owner="shared", shared_with=[sam.id, alex.id]
    )
    store.record_seen(engine, {"192.168.1.40": ("aa:bb:cc:dd:ee:02", NOW.timestamp())})
    store.add_rule(engine, sam.id, "block", "app", "roblox")
    store.add_rule(engine, alex.id, "allow", "domain", "bbc.co.uk")
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True)
    store.add_schedule(
        engine,
        alex.id,
        "Homework",
        range(5),
        time(16),
        time(18),
        block=["gaming"],
        allow=["bbc.co.uk"],
    )
    store.pause(engine, datetime(2026, 11, 23, 20, 0, tzinfo=UTC), device_id=ipad.id)
    writer = QueryLogWriter(db)
    for i in range(50):
        writer.submit(
            LogEntry(
                NOW.timestamp() + i,
                "192.168.1.20",
                "1",
                "Sam",
                f"n{i}.example",
                "A",
                "allow",
                "",
                "",
                latency_ms=1.5,
            )
        )
    assert writer.stop()
    engine.dispose()


def tables(db: Path, skip: frozenset[str] = frozenset()) -> dict[str, list[tuple]]:
    """Every row of every table (household_meta's version aside), by table."""
    with closing(sqlite3.connect(db)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        out = {
            n: conn.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall()
            for n in names
            if n not in skip
        }
    out.pop("household_meta", None)
    return out


def household(db: Path) -> store.Household:
    engine = make_engine(f"sqlite:///{db}")
    try:
        return dataclasses.replace(store.load_household(engine), version=0)
    finally:
        engine.dispose()


def version(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT version FROM household_meta").fetchone()[0]


@pytest.fixture
def house(tmp_path: Path) -> Path:
    db = new_box(tmp_path / "old")
    fill(db)
    return db


def test_a_round_trip_into_a_fresh_install_gives_the_same_house_rules(
    house: Path, tmp_path: Path
) -> None:
    file = tmp_path / "house.json"
    made = write_backup(house, file, now=NOW)
    assert made.rows["children"] == 2 and made.rows["devices"] == 3 and "query_log" not in made.rows
    assert made.summary().startswith("2 children, 3 devices, 2 rules, 2 schedules")

    fresh = new_box(tmp_path / "new")
    restored = restore_backup(fresh, file)
    assert restored.rows == made.rows
    history = backup.history_tables()
    assert tables(fresh, history) == tables(house, history)
    assert household(fresh) == household(house)
    assert household(fresh).children[1].settings.youtube_level == "strict"
    assert tables(fresh)["query_log"] == []  # history was not asked for


def test_with_history_the_query_log_comes_too_and_gz_compresses(
    house: Path, tmp_path: Path
) -> None:
    file = tmp_path / "house.json.gz"
    made = write_backup(house, file, with_history=True, now=NOW)
    assert made.rows["query_log"] == 50 and made.with_history
    with gzip.open(file, "rt") as fh:
        assert json.loads(fh.readline())["with_history"] is True
    fresh = new_box(tmp_path / "new")
    restore_backup(fresh, file)
    assert tables(fresh) == tables(house)


def test_history_tables_are_left_out_by_default_and_everything_else_is_in() -> None:
    history = backup.history_tables()
    assert {"query_log", "events"} <= history
    assert {"usage_daily", "insight_cursor"} <= history  # by the module that defines them
    household_tables = {t.name for t in backup.backup_tables(with_history=False)}
    assert {
        "children",
        "devices",
        "rules",
        "schedules",
        "pauses",
        "household_meta",
    } <= household_tables
    assert not household_tables & history
    everything = {t.name for t in backup.backup_tables(with_history=True)}
    assert everything == {t.name for t in SQLModel.metadata.sorted_tables}


def test_a_table_added_later_is_backed_up_without_changing_the_backup_code(tmp_path: Path) -> None:
    meta = MetaData()
    for t in SQLModel.metadata.sorted_tables:
        t.to_metadata(meta)
    Table(
        "garden_notes",
        meta,
        Column("id", Integer, primary_key=True),
        Column("name", String, nullable=False),
    )
    old, new = new_box(tmp_path / "old"), new_box(tmp_path / "new")
    for db in (old, new):
        meta.tables["garden_notes"].create(make_engine(f"sqlite:///{db}"))
    with closing(sqlite3.connect(old)) as conn, conn:
        conn.execute("INSERT INTO garden_notes (id, name) VALUES (7, 'Grandma')")
    file = tmp_path / "house.json"
    assert write_backup(old, file, metadata=meta).rows["garden_notes"] == 1
    restore_backup(new, file, metadata=meta)
    assert tables(new)["garden_notes"] == [(7, "Grandma")]


def test_a_household_in_use_is_only_replaced_with_force(house: Path, tmp_path: Path) -> None:
    file = tmp_path / "house.json"
    write_backup(house, file)
    other = new_box(tmp_path / "other")
    engine = make_engine(f"sqlite:///{other}")
    store.add_child(engine, "Robin", date(2015, 1, 1))
    before, version_before = tables(other), version(other)
    with pytest.raises(BackupError, match=r"already has a household \(children: 1\).*--force"):
        restore_backup(other, file)
    assert tables(other) == before
    restore_backup(other, file, force=True)
    assert household(other) == household(house)
    assert version(other) > max(version_before, version(house))  # the DNS reloads


def test_devices_the_box_has_only_seen_do_not_block_a_restore(house: Path, tmp_path: Path) -> None:
    file = tmp_path / "house.json"
    write_backup(house, file)
    fresh = new_box(tmp_path / "new")
    store.record_seen(make_engine(f"sqlite:///{fresh}"), {"192.168.1.99": (None, NOW.timestamp())})
    restore_backup(fresh, file)
    assert household(fresh) == household(house)


def test_a_file_cut_short_changes_nothing(house: Path, tmp_path: Path) -> None:
    file = tmp_path / "house.json"
    write_backup(house, file)
    lines = file.read_text().splitlines(keepends=True)
    file.write_text("".join(lines[:-3]))
    other = new_box(tmp_path / "other")
    before = tables(other)
    with pytest.raises(BackupError, match="incomplete"):
        restore_backup(other, file)
    assert tables(other) == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: {**h, "format": "something-else"}, "not a HouseRules backup"),
        (lambda h: {**h, "version": backup.VERSION + 1}, "newer version of HouseRules"),
        (
            lambda h: {**h, "schema_revision": "9999"},
            r"newer version of HouseRules \(schema 9999\)",
        ),
        (lambda h: {**h, "tables": {**h["tables"], "spaceships": ["id"]}}, "holds spaceships"),
        (
            lambda h: {**h, "tables": {**h["tables"], "children": [*h["tables"]["children"], "x"]}},
            r"holds children\.x",
        ),
    ],
)
def test_a_foreign_or_newer_file_is_refused(
    house: Path, tmp_path: Path, change, message: str
) -> None:
    file = tmp_path / "house.json"
    write_backup(house, file)
    header, *rest = file.read_text().splitlines(keepends=True)
    file.write_text(json.dumps(change(json.loads(header))) + "\n" + "".join(rest))
    fresh = new_box(tmp_path / "new")
    before = tables(fresh)
    with pytest.raises(BackupError, match=message):
        restore_backup(fresh, file)
    assert tables(fresh) == before


def test_an_older_backup_without_a_column_gets_the_default(house: Path, tmp_path: Path) -> None:
    file = tmp_path / "house.json"
    write_backup(house, file)
    header, *rest = (json.loads(line) for line in file.read_text().splitlines())
    drop = header["tables"]["children"].index("safe_search")
    del header["tables"]["children"][drop]
    for item in rest:
        if isinstance(item, list) and item[0] == "children":
            del item[1][drop]
    file.write_text("".join(json.dumps(x) + "\n" for x in (header, *rest)))
    fresh = new_box(tmp_path / "new")
    restore_backup(fresh, file)
    assert [c.settings.safe_search for c in household(fresh).children] == [True, True]


def test_backing_up_a_box_without_a_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="no database"):
        write_backup(tmp_path / "none.db", tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists() and not (tmp_path / "none.db").exists()


# -- the commands ------------------------------------------------------------------------------


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    if "maintenance" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "maintenance"))

    def run(config: Path, *args: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def config_in(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.toml").write_text('[store]\nurl = "sqlite:///data/houserules.db"\n')
    return folder / "config.toml"


def test_the_backup_and_restore_commands(run, tmp_path: Path) -> None:
    old, new = config_in(tmp_path / "old"), config_in(tmp_path / "new")
    fill(new_box(tmp_path / "old" / "data"))
    file = tmp_path / "house.json"
    code, out, _ = run(old, "backup", str(file))
    assert code == 0 and "backed up 2 children" in out and "without history" in out
    code, out, _ = run(new, "restore", str(file))  # a fresh box: migrated, then restored
    assert code == 0 and "restored 2 children" in out
    assert household(tmp_path / "new" / "data" / "houserules.db") == household(
        tmp_path / "old" / "data" / "houserules.db"
    )
    code, _, err = run(new, "restore", str(file))
    assert code == 1 and "--force" in err
    code, _, err = run(new, "restore", str(tmp_path / "missing.json"))
    assert code == 1 and "there is no file" in err
