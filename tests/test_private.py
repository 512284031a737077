"""Family data is readable by HouseRules alone, whatever the umask of the shell that ran
`make run`: the data folder 0700, the database, backups and exports 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import cli
from agent.private import private_file, private_folder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    old = os.umask(0o022)  # a typical login shell's
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def box(tmp_path: Path, loose_umask: None) -> Path:
    config = tmp_path / "config.toml"
    config.write_text('[store]\nurl = "sqlite:///data/houserules.db"\n')
    old = Path.cwd()
    os.chdir(tmp_path)  # make run's layout: data/ beside config.toml
    try:
        assert cli.main(["--config", str(config), "init"]) == 0
        cli.main(["--config", str(config), "child", "add", "Sam", "--born", "2014-05-01"])
    finally:
        os.chdir(old)
    return tmp_path


def test_init_makes_the_data_folder_and_database_private(box: Path) -> None:
    assert mode(box / "data") == 0o700
    assert mode(box / "data" / "houserules.db") == 0o600


def test_backups_and_exports_are_private(box: Path) -> None:
    config = str(box / "config.toml")
    old = Path.cwd()
    os.chdir(box)
    try:
        assert cli.main(["--config", config, "backup", str(box / "b.jsonl.gz")]) == 0
        assert cli.main(["--config", config, "backup", str(box / "b.jsonl")]) == 0
        out = box / "sam.json"
        assert cli.main(["--config", config, "export", "--child", "Sam", "--out", str(out)]) == 0
    finally:
        os.chdir(old)
    for made in ("b.jsonl.gz", "b.jsonl", "sam.json"):
        assert mode(box / made) == 0o600, made


def test_existing_files_and_folders_keep_their_mode(tmp_path: Path, loose_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    private_folder(shared / "a" / "b")
    assert mode(shared) == 0o755
    assert mode(shared / "a") == mode(shared / "a" / "b") == 0o700
    target = private_file(shared / "a" / "f.txt")
    target.write_text("x")
    assert mode(target) == 0o600
