"""Migrations: a new database, an old one made by create_all, an old revision with data, a
revision that fails, and the guard that every table in the models comes from a migration."""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from agent import cli
from agent.store import household as store
from agent.store import migrate as mig
from agent.store.db import init_db, make_engine
from agent.store.migrate import MigrationError, migrate
from agent.store.querylog import LogEntry, QueryLogWriter

HEAD = mig.head_revision()
ALL = tuple(s.revision for s in mig.scripts().walk_revisions())[::-1]


def dump(path: Path) -> list[str]:
    """Every table's schema and rows, as SQL text: equal dumps, equal databases."""
    with closing(sqlite3.connect(path)) as conn:
        return list(conn.iterdump())


def upgrade_to(url: str, revision: str) -> None:
    engine = mig.migration_engine(url)
    try:
        with engine.connect() as conn:
            command.upgrade(mig.alembic_config(None, conn), revision)
            conn.commit()
    finally:
        engine.dispose()


def fill_household(engine: Engine) -> None:
    sam = store.add_child(engine, "Sam", date(2014, 5, 1))
    store.add_child(engine, "Alex", date(2017, 9, 12))
    # In SQL, not the store: the store's devices have columns later revisions add.
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO devices (mac, name, owner, child_id, shared_with, inspect) "
            "VALUES ('aa:bb:cc:dd:ee:01', 'Sam''s iPad', 'child', ?, '', 0)",
            (sam.id,),
        )
    store.add_rule(engine, sam.id, "block", "app", "roblox")
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True)


def log_rows(path: Path, n: int) -> None:
    writer = QueryLogWriter(path)
    for i in range(n):
        writer.submit(
            LogEntry(1.0 + i, "192.168.1.20", None, "Sam", f"n{i}.example", "A", "allow", "", "")
        )
    assert writer.stop()


def scripts_with(tmp_path: Path, extra: dict[str, str]) -> Path:
    """A copy of the shipped revisions plus test-only ones (file name -> source)."""
    location = tmp_path / "migrations"
    shutil.copytree(mig.SCRIPTS, location, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in extra.items():
        (location / "versions" / name).write_text(source)
    return location


def revision(rev: str, down: str, doc: str, body: str) -> str:
    return (
        f'"""{doc}"""\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\n"
        f"depends_on = None\n\n\ndef upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n"
    )


ADD_NICKNAME = revision(
    "0900",
    HEAD,
    "children get a nickname",
    "    with op.batch_alter_table('children') as batch:\n"
    "        batch.add_column(sa.Column('nickname', sa.String(), nullable=False,"
    " server_default='none'))",
)
ADD_TABLE = revision(
    "0900",
    HEAD,
    "a table for notes",
    "    op.create_table('notes', sa.Column('id', sa.Integer, primary_key=True))",
)
BROKEN = revision(
    "0901",
    "0900",
    "copy rules into notes",
    '    op.execute("INSERT INTO notes (id) VALUES (1)")\n'
    "    op.execute('UPDATE children SET name = NULL')",  # NOT NULL: fails half way
)


# -- a new database and the guard --------------------------------------------------------------


def test_a_new_database_gets_every_revision_and_no_safety_copy(tmp_path: Path) -> None:
    db = tmp_path / "data" / "houserules.db"
    result = migrate(f"sqlite:///{db}")
    assert (result.before, result.after, result.applied) == (None, HEAD, ALL)
    assert result.backup is None and not (db.parent / "backups").exists()
    assert mig.current_revision(make_engine(f"sqlite:///{db}")) == HEAD
    again = migrate(f"sqlite:///{db}")
    assert again.applied == () and "up to date" in again.summary()


def _shape(engine: Engine) -> dict[str, object]:
    """Tables, columns (name, type, nullable, primary key), indexes, uniques, foreign keys."""
    found = inspect(engine)
    shape: dict[str, object] = {}
    for table in sorted(set(found.get_table_names()) - {"alembic_version"}):
        shape[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("primary_key", 0))
                for c in found.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in found.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(table)),
            "foreign_keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in found.get_foreign_keys(table)
            ),
        }
    return shape


def test_the_migrations_create_exactly_what_the_models_describe(tmp_path: Path) -> None:
    """Fails when a table or column is added to the models without a migration. Fix it with
    python -m agent.store.migrate revision "what changed" (then review the new file)."""
    migrated = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    upgrade_to(str(migrated.url), "head")
    mig.import_tables()
    created = make_engine(f"sqlite:///{tmp_path / 'created.db'}")
    SQLModel.metadata.create_all(created)
    hint = 'the models changed without a migration: python -m agent.store.migrate revision "..."'
    assert mig.schema_differences(migrated) == [], hint
    assert _shape(migrated) == _shape(created), hint


def test_every_table_module_is_seen_by_the_migrations() -> None:
    mig.import_tables()
    owners = {
        m.local_table.name: m.class_.__module__
        for m in SQLModel._sa_registry.mappers  # type: ignore[attr-defined]
        if m.class_.__module__.startswith("agent.")
    }
    assert {"query_log", "children", "devices"} <= set(owners)
    assert all(module.startswith("agent.store.") for module in owners.values()), owners


# -- databases from before --------------------------------------------------------------------


def test_a_create_all_database_is_recognised_stamped_and_keeps_its_data(tmp_path: Path) -> None:
    db = tmp_path / "houserules.db"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)
    fill_household(engine)
    log_rows(db, 3)
    before = dump(db)
    result = migrate(engine)
    assert result.stamped == HEAD and result.applied == () and result.backup is None
    assert mig.current_revision(engine) == HEAD
    assert [line for line in dump(db) if "alembic_version" not in line] == before


def test_a_create_all_database_between_revisions_gets_the_rest(tmp_path: Path) -> None:
    """A box that ran before migrations, when only some of today's tables existed."""
    db = tmp_path / "houserules.db"
    engine = make_engine(f"sqlite:///{db}")
    mig.import_tables()
    (_, first), *_ = mig.revision_schemas()
    then = [t for t in SQLModel.metadata.sorted_tables if t.name in {*first, "events"}]
    SQLModel.metadata.create_all(engine, tables=then)
    fill_household(engine)
    household = store.load_household(engine)
    result = migrate(engine)
    assert result.stamped == ALL[0] and result.applied == ALL[1:]
    assert store.load_household(engine) == household
    assert mig.schema_differences(engine) == []


def test_a_database_at_the_baseline_upgrades_with_its_data_and_a_safety_copy(
    tmp_path: Path,
) -> None:
    db = tmp_path / "houserules.db"
    url = f"sqlite:///{db}"
    upgrade_to(url, ALL[0])
    engine = make_engine(url)
    fill_household(engine)
    log_rows(db, 5)
    old = dump(db)

    moment = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
    result = migrate(engine, now=lambda: moment)
    assert result.before == ALL[0] and result.applied == ALL[1:] and result.after == HEAD
    household = store.load_household(engine)
    assert [c.name for c in household.children] == ["Sam", "Alex"]
    assert [(d.name, d.owner, d.mac) for d in household.devices] == [
        ("Sam's iPad", "child", "aa:bb:cc:dd:ee:01")
    ]
    assert len(household.rules) == 1 and len(household.schedules) == 1
    assert [r.name for r in _recent(db)] == [f"n{i}.example" for i in range(5)]
    # The copy is the database as it was: same schema, same rows, same revision.
    assert (
        result.backup
        == db.parent / "backups" / f"houserules-20261123T120005Z-{ALL[0]}-to-{HEAD}.db"
    )
    assert dump(result.backup) == old


def _recent(db: Path) -> list[LogEntry]:
    from agent.store.querylog import recent

    return recent(db, 100)[::-1]


def test_a_database_holding_only_the_query_log_gets_the_rest(tmp_path: Path) -> None:
    """The query log writer creates its own table, so it may exist before any migration."""
    db = tmp_path / "houserules.db"
    log_rows(db, 2)
    result = migrate(f"sqlite:///{db}")
    assert result.stamped is None and result.applied == ALL
    assert len(_recent(db)) == 2
    assert mig.schema_differences(make_engine(f"sqlite:///{db}")) == []


def test_a_revision_that_adds_a_column_keeps_the_rows(tmp_path: Path) -> None:
    location = scripts_with(tmp_path, {"0900_nickname.py": ADD_NICKNAME})
    db = tmp_path / "houserules.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    fill_household(engine)
    result = migrate(engine, location=location)
    assert result.applied == ("0900",) and result.backup is not None
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT name, born, nickname FROM children ORDER BY id").fetchall()
    assert rows == [("Sam", "2014-05-01", "none"), ("Alex", "2017-09-12", "none")]
    assert len(store.list_rules(engine)) == 1 and len(store.list_schedules(engine)) == 1


# -- failures ---------------------------------------------------------------------------------


def test_a_failing_revision_leaves_the_old_database_exactly_as_it_was(tmp_path: Path) -> None:
    location = scripts_with(tmp_path, {"0900_notes.py": ADD_TABLE, "0901_broken.py": BROKEN})
    db = tmp_path / "houserules.db"
    engine = make_engine(f"sqlite:///{db}")
    migrate(engine)
    fill_household(engine)
    log_rows(db, 4)
    before = dump(db)

    with pytest.raises(MigrationError) as failure:
        migrate(engine, location=location)
    message = str(failure.value)
    assert str(db) in message
    assert "revision 0901 (copy rules into notes) failed" in message
    assert "NOT NULL" in message
    assert "left exactly as it was" in message and f"(revision {HEAD})" in message
    # 0900 had succeeded (and committed) before 0901 failed: it is undone too.
    assert dump(db) == before
    assert mig.current_revision(engine) == HEAD
    assert len(list((db.parent / "backups").glob("*.db"))) == 1


def test_an_old_create_all_database_is_not_even_stamped_when_an_upgrade_fails(
    tmp_path: Path,
) -> None:
    failing = revision(
        "0900", HEAD, "clear names", "    op.execute('UPDATE children SET name = NULL')"
    )
    location = scripts_with(tmp_path, {"0900_failing.py": failing})
    db = tmp_path / "houserules.db"
    engine = make_engine(f"sqlite:///{db}")
    init_db(engine)  # before migrations existed
    fill_household(engine)
    before = dump(db)
    with pytest.raises(MigrationError, match="revision 0900 \\(clear names\\) failed"):
        migrate(engine, location=location)
    assert dump(db) == before
    assert mig.current_revision(engine) is None


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "houserules.db"
    migrate(f"sqlite:///{db}")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    before = dump(db)
    with pytest.raises(MigrationError, match="revision 9999, which this version .* newer"):
        migrate(f"sqlite:///{db}")
    assert dump(db) == before


def test_a_table_without_a_migration_is_named(tmp_path: Path) -> None:
    db = tmp_path / "houserules.db"
    migrate(f"sqlite:///{db}")
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("ALTER TABLE children DROP COLUMN safe_search")
        conn.execute("DROP TABLE pauses")
    with pytest.raises(
        MigrationError,
        match=r"lacks the table pauses, children\.safe_search|"
        r"lacks children\.safe_search, the table pauses",
    ):
        migrate(f"sqlite:///{db}")


def test_a_safety_copy_that_cannot_be_made_stops_the_upgrade(tmp_path: Path) -> None:
    location = scripts_with(tmp_path, {"0900_notes.py": ADD_TABLE})
    db = tmp_path / "houserules.db"
    migrate(f"sqlite:///{db}")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backups folder should be")
    before = dump(db)
    with pytest.raises(
        MigrationError, match="safety copy could not be made .* nothing was changed"
    ):
        migrate(f"sqlite:///{db}", blocker, location=location)
    assert dump(db) == before


def test_only_the_newest_safety_copies_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "houserules.db"
    migrate(f"sqlite:///{db}")
    folder = tmp_path / "backups"
    made = [
        mig._backup(db, folder, HEAD, "0900", datetime(2026, 1, day, tzinfo=UTC))
        for day in range(1, 6)
    ]
    assert sorted(folder.iterdir()) == made[-mig.KEEP_BACKUPS :]


# -- new revisions and the command ------------------------------------------------------------


def test_make_revision_numbers_the_next_file_and_refuses_an_empty_diff(tmp_path: Path) -> None:
    location = scripts_with(tmp_path, {})
    with pytest.raises(SystemExit, match="nothing to do"):
        mig.make_revision("nothing changed", location)
    path = mig.make_revision("move some data", location, empty=True)
    number = int(HEAD.rstrip("abcdefghijklmnopqrstuvwxyz")) + 1
    assert path.name == f"{number:04d}_move_some_data.py"
    assert f"down_revision: str | None = {HEAD!r}" in path.read_text().replace('"', "'")
    assert mig.head_revision(location) == f"{number:04d}"


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """The maintenance commands on the command line (until cli.COMMAND_MODULES lists them)."""
    if "maintenance" not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "maintenance"))


@pytest.mark.usefixtures("commands")
def test_the_migrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "sqlite:///data/house.db"\n')
    assert cli.main(["--config", str(config), "migrate"]) == 0
    assert f"to revision {HEAD}" in capsys.readouterr().out
    assert cli.main(["--config", str(config), "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.usefixtures("commands")
@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands files to another user")
def test_run_as_root_the_new_files_belong_to_the_data_folders_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """sudo houserules migrate must not leave root-owned files the service cannot write."""
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, 65534, 65534)  # the service's user, e.g. houserules
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "sqlite:///data/house.db"\n')
    assert cli.main(["--config", str(config), "migrate"]) == 0
    made = [p for p in data.iterdir()]
    assert made and all(p.stat().st_uid == 65534 for p in made), [
        (p.name, p.stat().st_uid) for p in made
    ]


def test_0005h_puts_lifted_schedules_back_and_keeps_running_extra_time(tmp_path: Path) -> None:
    """Before overlays, "more time" took schedules out and kept copies in the request's row;
    the upgrade puts every one back, with an overlay for extra time still running."""
    import json

    from agent.store import overlays

    db = tmp_path / "houserules.db"
    url = f"sqlite:///{db}"
    upgrade_to(url, "0004")
    engine = make_engine(url)
    fill_household(engine)  # Sam has a Bedtime; Alex has none
    sam, alex = (store.get_child_by_name(engine, n) for n in ("Sam", "Alex"))
    saved = {"days": [0, 1, 2, 3, 4, 5, 6], "start": "20:30:00", "end": "07:00:00"}
    saved |= {"block_all": True, "block": [], "allow": ["homework.example"]}
    rows = [  # (child, lifted, until): a lift still running, an old one never put back, and
        # one whose schedule the parent has made again meanwhile (theirs stands)
        (alex.id, [saved | {"name": "Bedtime"}], 4102444800.0),  # 2100
        (alex.id, [saved | {"name": "School", "block_all": False, "block": ["gaming"]}], 1.0e9),
        (sam.id, [saved | {"name": "Bedtime"}], 1.0e9),
    ]
    with closing(sqlite3.connect(db)) as conn:
        for child_id, lifted, until in rows:
            conn.execute(
                "INSERT INTO child_requests (time, child_id, child, kind, message, status, "
                "outcome, lifted, lift_until, restored) VALUES "
                "(1.0, ?, 'x', 'more_time', '', 'approved', '', ?, ?, 0)",
                (child_id, json.dumps(lifted), until),
            )
        conn.commit()
    version = store.household_version(engine)
    migrate(engine)
    household = store.load_household(engine)
    assert household.version == version + 1
    by_child = {(s.child_id, s.name): s for s in household.schedules}
    assert set(by_child) == {(sam.id, "Bedtime"), (alex.id, "Bedtime"), (alex.id, "School")}
    assert by_child[(sam.id, "Bedtime")].start == time(21)  # the parent's own stands
    back = by_child[(alex.id, "Bedtime")]
    assert (back.start, back.end, back.block_all, back.allow) == (
        time(20, 30), time(7), True, ("homework.example",),
    )  # fmt: skip
    assert by_child[(alex.id, "School")].block == {"gaming"}
    (running,) = overlays.list_overlays(engine)
    assert (running.kind, running.child_id, running.schedule_id) == ("more_time", alex.id, back.id)
    assert running.until == datetime(2100, 1, 1, tzinfo=UTC)
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT sum(restored) FROM child_requests").fetchone() == (3,)


def test_a_sqlite_box_without_the_postgresql_driver_migrates():
    """The wheel a household installs has no psycopg unless asked for: `init` must still find
    every table (the modules that need psycopg hold PostgreSQL readers, no tables)."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from agent.store.migrate import import_tables\n"
        "from sqlmodel import SQLModel\n"
        "import_tables()\n"
        "print(len(SQLModel.metadata.tables))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 30
