"""The copy of the last household read, kept on local disk: what comes back is what was read."""

from __future__ import annotations

import json
import stat

import pytest
from test_store_snapshot import fill_household

from agent.store.db import init_db, make_engine
from agent.store.household import load_household
from agent.store.snapshot import household_from, read_rows
from agent.store.snapshot_copy import CopyUnusable, load_copy, save_copy

SOURCE = "postgresql://houserules@192.0.2.1:5432/hr"


@pytest.fixture
def rows(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/hr.db")
    init_db(engine)
    fill_household(engine)
    return read_rows(tmp_path / "hr.db"), load_household(engine)


def test_the_copy_gives_back_the_household_read(tmp_path, rows):
    read, expected = rows
    path = tmp_path / "data" / "household-copy.json"
    save_copy(path, SOURCE, read, 1_790_000_000.0)
    again, saved_at = load_copy(path, SOURCE)
    assert saved_at == 1_790_000_000.0
    assert again == read  # every row, every value, every type
    assert household_from(again, str(path)) == expected
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["household-copy.json"]  # no temporary


def test_a_new_copy_replaces_the_old_whole(tmp_path, rows):
    read, _ = rows
    path = tmp_path / "household-copy.json"
    path.write_text("an older copy, longer than JSON would write it " * 1000)
    path.chmod(0o644)
    save_copy(path, SOURCE, read, 1.0)
    assert load_copy(path, SOURCE)[0] == read
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (None, "there is no copy"),
        ("", "cannot be read"),
        ('{"format": 1, "source": "%s", "saved_at": 1, "version": 3}', "damaged"),
        ("[1, 2]", "damaged"),
        ('{"format": 9, "source": "%s"}', "another format"),
        ('{"format": 1, "source": "sqlite:///data/hr.db"}', "another database"),
    ],
)
def test_a_missing_damaged_or_foreign_copy_is_not_used(tmp_path, damage, words):
    path = tmp_path / "household-copy.json"
    if damage is not None:
        path.write_text(damage.replace("%s", SOURCE))
    with pytest.raises(CopyUnusable, match=words):
        load_copy(path, SOURCE)


def test_a_damaged_value_is_refused_not_guessed(tmp_path, rows):
    read, _ = rows
    path = tmp_path / "household-copy.json"
    save_copy(path, SOURCE, read, 1.0)
    data = json.loads(path.read_text())
    data["tables"]["children"][0]["born"] = {"date": "the fourth of June"}
    path.write_text(json.dumps(data))
    with pytest.raises(CopyUnusable, match="damaged"):
        load_copy(path, SOURCE)
