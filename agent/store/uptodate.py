"""`migrate` for a process that starts often and migrates rarely: when the database is already
at the newest revision, it says so without loading Alembic.

The jobs process migrates at every start, but on all but the first start after an upgrade
there is nothing to do, and Alembic with its template and highlighting libraries would stay in
its memory for good (some 13 MB on a box with 512 MB). So: the newest revision is read from
the revision files' own `revision = "..."` / `down_revision = ...` lines, the database's from
`alembic_version`; when they match and every table and column the code uses is there (as
`migrations/tables.json` lists them), the answer is "up to date". Anything else (a new
database, one behind or ahead, two heads, an unreadable file, a missing column) goes to
`agent.store.migrate.migrate`, which does the work and says what is wrong, exactly as before.

The jobs process goes further (`apart=True`): when there is work, it is done by a child
interpreter (`python -m agent.store.uptodate`, the URL on its stdin, never on a command line),
so Alembic, its templates, the PostgreSQL driver and every table module leave with it. A
jobs process that migrated a new database in-process measured 82 MB a few seconds on, against
61 MB for one that found it up to date, for as long as it ran.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Table, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from agent.store.db import TABLE_MODULES, StoreError, sqlite_file

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
TABLES = VERSIONS.parent / "tables.json"  # written by `python -m agent.store.uptodate --tables`
_ASSIGNED = re.compile(r"^(revision|down_revision)\b[^=]*=(.*)$", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")
_DECLARES = re.compile(r"table\s*=\s*True|\bTable\(")


@dataclass(frozen=True)
class UpToDate:
    """What `migrate` returns when nothing was done (as `MigrationResult` would say it)."""

    database: str
    after: str
    applied: tuple[str, ...] = ()
    stamped: str | None = None

    @property
    def before(self) -> str:
        return self.after

    def summary(self) -> str:
        return f"the database {self.database} is up to date (revision {self.after})"


@dataclass(frozen=True)
class MigratedApart:
    """What a child interpreter's `agent.store.migrate.migrate` returned, as it said it."""

    database: str
    before: str | None
    after: str
    applied: tuple[str, ...] = ()
    stamped: str | None = None
    said: str = field(default="", compare=False)

    def summary(self) -> str:
        return self.said


def migrate(engine: Engine, *, apart: bool = False) -> Any:
    """`agent.store.migrate.migrate(engine)`, without Alembic when nothing is to be done; with
    `apart`, any work is done in a child interpreter (raises `StoreError` as it would)."""
    head = head_of(VERSIONS)
    if head is not None and _at(engine, head):
        return UpToDate(engine.url.render_as_string(hide_password=True), head)
    if apart:
        return migrate_apart(engine)
    from agent.store.migrate import migrate as full_migrate  # Alembic loads only to work

    return full_migrate(engine)


def migrate_apart(engine: Engine) -> MigratedApart:
    """Migrate `engine`'s database in a child interpreter; its log lines join this one's."""
    url = engine.url.render_as_string(hide_password=False)
    shown = str(sqlite_file(url) or engine.url)  # str() of a URL masks any password
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agent.store.uptodate"],
            input=json.dumps({"url": url}),
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise StoreError(shown, f"the migration could not be started ({exc})") from exc
    try:
        said = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        cause = f"the migration stopped without saying why (exit status {done.returncode})"
        raise StoreError(shown, cause) from None
    if "cause" in said:
        raise StoreError(said["target"], said["cause"])
    return MigratedApart(
        said["database"], said["before"], said["after"], tuple(said["applied"]),
        said["stamped"], said["summary"],
    )  # fmt: skip


def _child() -> int:
    """`python -m agent.store.uptodate`: migrate the URL read from stdin; one JSON line out.
    With `--tables`: print what `TABLES` should hold (after a change to a table)."""
    if sys.argv[1:] == ["--tables"]:
        sys.stdout.write(tables_text())
        return 0
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    url = json.loads(sys.stdin.read())["url"]
    from agent.store.migrate import migrate as full_migrate

    try:
        result = full_migrate(url)
    except StoreError as exc:
        print(json.dumps({"target": exc.target, "cause": exc.cause}))
        return 2
    said = {
        "database": result.database, "before": result.before, "after": result.after,
        "applied": list(result.applied), "stamped": result.stamped, "summary": result.summary(),
    }  # fmt: skip
    print(json.dumps(said))
    return 0


def head_of(folder: Path) -> str | None:
    """The one revision no other revision follows; None when that is not plain to see."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in folder.glob("*.py"):
        if path.name.startswith("__"):
            continue
        try:
            found = dict(_ASSIGNED.findall(path.read_text()))
        except (OSError, UnicodeDecodeError):
            return None
        names = _QUOTED.findall(found.get("revision", ""))
        if len(names) != 1:
            return None
        revisions.add(names[0])
        followed.update(_QUOTED.findall(found.get("down_revision", "")))
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else None


def _at(engine: Engine, head: str) -> bool:
    """The database is at `head` and has every table and column the code uses."""
    path = sqlite_file(str(engine.url))
    if path is not None and not path.is_file():
        return False  # a new database: opening it here would make an empty file
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
            if [r[0] for r in rows] != [head]:
                return False
            found = inspect(conn)
            have = {t: {c["name"] for c in found.get_columns(t)} for t in found.get_table_names()}
            conn.rollback()
    except Exception:  # no table, no file, no server: the full migration says which
        return False
    want = written_tables() or {t.name: [c.name for c in t.columns] for t in all_tables()}
    return all(table in have and have[table].issuperset(columns) for table, columns in want.items())


def written_tables() -> dict[str, list[str]] | None:
    """Every table and column the code uses, as `TABLES` writes them down (so the check does
    not import the modules that declare them: 1.3 MB of the jobs process that most of its
    jobs never need); None when the file cannot be read, and the modules are asked instead.
    `tests/test_store_uptodate.py` keeps the file equal to the code."""
    try:
        found = json.loads(TABLES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(found, dict) or not found:
        return None
    return {str(table): [str(c) for c in columns] for table, columns in found.items()}


def tables_text() -> str:
    """What `TABLES` should hold: every table Alembic knows and its columns, sorted."""
    from agent.store.migrate import import_tables

    import_tables()
    every = {t.name: sorted(c.name for c in t.columns) for t in SQLModel.metadata.sorted_tables}
    lines = [f"  {json.dumps(table)}: {json.dumps(every[table])}" for table in sorted(every)]
    return "{\n" + ",\n".join(lines) + "\n}\n"  # a table a line: a change reads as one


def all_tables() -> list[Table]:
    """Every table the code defines: the modules `init_db` knows and every other module of
    `agent.store` that declares one (`table=True`, `Table(`). Only those are imported: a module
    without tables may need Alembic itself (`tests/test_store_uptodate.py` checks the set is
    the one `agent.store.migrate.import_tables` finds)."""
    here = Path(__file__).parent
    declaring = [
        f"agent.store.{path.stem}"
        for path in sorted(here.glob("*.py"))
        if _DECLARES.search(path.read_text(encoding="utf-8", errors="replace"))
    ]
    for name in (*TABLE_MODULES, *declaring):
        importlib.import_module(name)
    return list(SQLModel.metadata.sorted_tables)


if __name__ == "__main__":
    sys.exit(_child())
