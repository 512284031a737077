"""The shape of the code: what may import what."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_nothing_under_agent_imports_the_dashboard_or_the_composition_root() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            n for n in imported(path) if n.split(".")[0] in ("dashboard", "houserules")
        )
        for path in sorted((ROOT / "agent").rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from dashboard.server import serve_dashboard\n")
    assert "dashboard.server" in imported(probe)


def test_the_household_commands_and_explain_do_not_import_each_other() -> None:
    commands = ROOT / "agent" / "commands"
    assert not any("household_explain" in n for n in imported(commands / "household.py"))
    assert "agent.commands.household" not in imported(commands / "household_explain.py")


SQL = re.compile(r"^\s*(SELECT|INSERT INTO|DELETE FROM|UPDATE \w+ SET|PRAGMA|BEGIN|CREATE TABLE)\b")


def sql_strings(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value)
    ]


def test_only_the_store_talks_sql() -> None:
    """Backup, the jobs, the pages and the household's rules call the store; none writes SQL."""
    outside = [
        path
        for top in ("agent", "dashboard", "houserules")
        for path in sorted((ROOT / top).rglob("*.py"))
        if "store" not in path.relative_to(ROOT).parts[:2]
    ]
    found = {str(p.relative_to(ROOT)): sql_strings(p) for p in outside}
    assert {k: v for k, v in found.items() if v} == {}
    assert sql_strings(ROOT / "agent" / "store" / "dump.py")  # the checker does see SQL


HOUSEHOLD_SQL = re.compile(
    r"\b(FROM|JOIN|INTO|UPDATE)\s+(children|devices|rules|schedules|pauses|household_meta)\b"
)


def test_the_household_tables_are_written_one_way() -> None:
    """The household store uses SQLAlchemy expressions for its tables; plain SQL on them is
    only the DNS process's readers (no ORM there: SQLite's, PostgreSQL's) and backup's
    whole-table copy."""
    allowed = {"snapshot.py", "pgsnapshot.py", "dump.py"}
    store = ROOT / "agent" / "store"
    found = {
        path.name: [s for s in sql_strings(path) if HOUSEHOLD_SQL.search(s)]
        for path in sorted(store.glob("*.py"))
        if path.name not in allowed
    }
    assert {k: v for k, v in found.items() if v} == {}
