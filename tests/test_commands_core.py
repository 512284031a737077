"""The core commands as a parent runs them: check-config, init, lists update."""

from __future__ import annotations

from pathlib import Path

from agent.cli import main as cli
from agent.lists.index import ListIndex
from agent.store import db

SHIPPED_BYPASS = Path(__file__).resolve().parent.parent / "blocklists" / "bypass.txt"


def source(name: str, category: str, path: object) -> str:
    return f'[[blocklists.sources]]\nname = "{name}"\ncategory = "{category}"\npath = "{path}"\n'


def write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path}/data/hr.db"
[blocklists]
compiled_dir = "{tmp_path}/index"
[[blocklists.sources]]
name = "bypass"
category = "bypass"
path = "{SHIPPED_BYPASS}"
{extra}"""
    )
    return path


def test_check_config_says_ok_for_a_good_file(tmp_path, capsys):
    path = write(tmp_path)
    assert cli(["--config", str(path), "check-config"]) == 0
    assert f"{path}: OK" in capsys.readouterr().out


def test_a_bad_config_exits_with_the_file_and_key(tmp_path, capsys):
    path = write(tmp_path, '[dns]\nblock_mode = "maybe"\n')
    assert cli(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "dns.block_mode" in err and "nxdomain, null" in err
    assert err.count("\n") == 1  # one line, no traceback


def test_check_config_names_a_missing_list_file(tmp_path, capsys):
    path = write(
        tmp_path, '[[blocklists.sources]]\nname = "x"\ncategory = "adult"\npath = "gone.txt"\n'
    )
    assert cli(["--config", str(path), "check-config"]) == 2
    assert "gone.txt" in capsys.readouterr().err


def test_init_creates_the_database_and_compiles_the_lists(tmp_path, capsys):
    path = write(tmp_path)
    assert cli(["--config", str(path), "init"]) == 0
    out = capsys.readouterr().out
    assert "database ready" in out and "list bypass [ok]" in out
    assert (tmp_path / "data" / "hr.db").exists()
    index = ListIndex.load(tmp_path / "index")
    assert index.lookup("dns.google").categories == {"bypass"}
    assert index.lookup("www.tiktok.com").apps == {"tiktok"}  # the app catalogue is in too
    engine = db.make_engine(f"sqlite:///{tmp_path}/data/hr.db")
    with engine.connect() as conn:
        tables = {r[0] for r in conn.exec_driver_sql("select name from sqlite_master")}
    assert {"query_log", "children", "devices", "events", "alembic_version"} <= tables


def test_lists_update_reports_a_broken_list_and_fails(tmp_path, capsys):
    broken = tmp_path / "broken.txt"
    broken.write_text("<html><body>404 Not Found</body></html>\n" * 20)
    path = write(
        tmp_path, f'[[blocklists.sources]]\nname = "adult"\ncategory = "adult"\npath = "{broken}"\n'
    )
    assert cli(["--config", str(path), "lists", "update"]) == 1
    out = capsys.readouterr().out
    assert "list adult [failed]" in out and "list bypass [ok]" in out
    # the lists that did compile are still in force
    assert ListIndex.load(tmp_path / "index").lookup("dns.google").categories == {"bypass"}
