"""`agent.store.uptodate.migrate`: Alembic stays unloaded when the database is up to date."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from agent.store import uptodate
from agent.store.db import StoreError, make_engine
from agent.store.migrate import (
    MigrationError,
    MigrationResult,
    head_revision,
    migrate,
)

ROOT = Path(__file__).resolve().parent.parent


def _fresh(*args: str) -> str:
    """What a fresh interpreter (`python ARGS`) prints: nothing imported here fills a gap."""
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _migrate_fresh(url: str, printed: str, apart: bool = False) -> str:
    """`uptodate.migrate` in a fresh interpreter; it prints the expression `printed` (of
    `result` and `sys`)."""
    return _fresh("-c", (
        "import sys\nfrom agent.store import uptodate\nfrom agent.store.db import make_engine\n"
        f"result = uptodate.migrate(make_engine({url!r}), apart={apart})\n"
        f"print({printed})\n"
    ))  # fmt: skip


def test_the_head_read_from_the_files_is_alembics_head():
    assert uptodate.head_of(uptodate.VERSIONS) == head_revision()


def test_two_heads_or_an_unreadable_revision_leave_the_answer_to_alembic(tmp_path):
    (tmp_path / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = "0001"\n')
    assert uptodate.head_of(tmp_path) == "0002"
    (tmp_path / "0002_c.py").write_text('revision = "0002c"\ndown_revision = "0001"\n')
    assert uptodate.head_of(tmp_path) is None
    (tmp_path / "0002_c.py").write_text("revision = find_it()\n")
    assert uptodate.head_of(tmp_path) is None


def test_an_up_to_date_database_is_answered_without_loading_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'hr.db'}"
    migrate(make_engine(url))
    out = _migrate_fresh(
        url, "result.applied, result.stamped, 'alembic' in sys.modules, result.summary()"
    )
    assert out.split(" ", 3)[:3] == ["()", "None", "False"]
    assert f"is up to date (revision {head_revision()})" in out


def test_a_new_database_is_migrated_by_alembic_as_before(tmp_path):
    result = uptodate.migrate(make_engine(f"sqlite:///{tmp_path / 'hr.db'}"))
    assert isinstance(result, MigrationResult)
    assert result.applied and result.after == head_revision()


def test_a_database_at_the_head_but_missing_a_column_is_still_refused(tmp_path):
    path = tmp_path / "hr.db"
    migrate(make_engine(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE devices DROP COLUMN hostname")
    with pytest.raises(MigrationError, match="devices.hostname"):
        uptodate.migrate(make_engine(f"sqlite:///{path}"))


def test_the_tables_checked_are_every_table_alembic_knows():
    probe = (
        "from sqlmodel import SQLModel\nfrom agent.store import uptodate\n"
        "checked = {t.name for t in uptodate.all_tables()}\n"
        "from agent.store.migrate import import_tables\nimport_tables()\n"
        "every = {t.name for t in SQLModel.metadata.sorted_tables}\n"
        "print(sorted(every - checked), len(every))\n"
    )
    missing, count = _fresh("-c", probe).split("]")
    assert missing == "[" and int(count) > 10


def test_the_written_tables_are_the_codes_own():
    """`migrations/tables.json` lists every table and column the models declare (a fresh
    interpreter, so nothing imported here fills a gap)."""
    printed = _fresh("-m", "agent.store.uptodate", "--tables")
    assert uptodate.TABLES.read_text(encoding="utf-8") == printed, (
        "agent/store/migrations/tables.json is behind the models: write it again with "
        "`python -m agent.store.uptodate --tables > agent/store/migrations/tables.json`"
    )


def test_the_check_imports_no_table_module_it_does_not_need(tmp_path):
    url = f"sqlite:///{tmp_path / 'hr.db'}"
    migrate(make_engine(url))
    loaded = "sorted(m for m in ('agent.store.talk', 'agent.store.api_tokens', "
    loaded += "'agent.store.requests') if m in sys.modules)"
    assert _migrate_fresh(url, f"result.applied, {loaded}").strip() == "() []"


def test_without_the_written_tables_the_models_are_asked(tmp_path, monkeypatch):
    path = tmp_path / "hr.db"
    migrate(make_engine(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE devices DROP COLUMN hostname")
    monkeypatch.setattr(uptodate, "TABLES", tmp_path / "nowhere.json")
    assert uptodate.written_tables() is None
    with pytest.raises(MigrationError, match="devices.hostname"):
        uptodate.migrate(make_engine(f"sqlite:///{path}"))


def test_apart_a_new_database_is_migrated_by_a_child_that_takes_alembic_with_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'hr.db'}"
    printed = "result.applied[-1], result.after, 'alembic' in sys.modules, result.summary()"
    last, after, alembic, said = _migrate_fresh(url, printed, apart=True).split(" ", 3)
    assert last == after == head_revision() and alembic == "False"
    assert said.startswith(f"upgraded the database {tmp_path / 'hr.db'} to revision {last}")
    again = uptodate.migrate(make_engine(url), apart=True)  # and it is really there
    assert again.applied == () and again.after == head_revision()


def test_apart_a_refusal_is_the_childs_own_words(tmp_path):
    path = tmp_path / "hr.db"
    migrate(make_engine(f"sqlite:///{path}"))
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE devices DROP COLUMN hostname")
    with pytest.raises(StoreError, match="devices.hostname") as refused:
        uptodate.migrate(make_engine(f"sqlite:///{path}"), apart=True)
    assert refused.value.target == str(path)


def test_apart_a_child_that_dies_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")  # a child that says nothing
    with pytest.raises(StoreError, match="stopped without saying why"):
        uptodate.migrate_apart(make_engine(f"sqlite:///{tmp_path / 'hr.db'}"))
