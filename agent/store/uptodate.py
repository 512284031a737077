"""`migrate` for a process that starts often and migrates rarely: when the database is already
at the newest revision, it says so without loading Alembic.

The jobs process migrates at every start, but on all but the first start after an upgrade
there is nothing to do, and Alembic with its template and highlighting libraries would stay in
its memory for good (some 13 MB on a box with 512 MB). So: the newest revision is read from
the revision files' own `revision = "..."` / `down_revision = ...` lines, the database's from
`alembic_version`; when they match and every table and column the code uses is there, the
answer is "up to date". Anything else (a new database, one behind or ahead, two heads, an
unreadable file, a missing column) goes to `agent.store.migrate.migrate`, which does the work
and says what is wrong, exactly as before.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Table, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from agent.store.db import TABLE_MODULES, sqlite_file

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"
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


def migrate(engine: Engine) -> Any:
    """`agent.store.migrate.migrate(engine)`, without Alembic when nothing is to be done."""
    head = head_of(VERSIONS)
    if head is not None and _at(engine, head):
        return UpToDate(engine.url.render_as_string(hide_password=True), head)
    from agent.store.migrate import migrate as full_migrate  # Alembic loads only to work

    return full_migrate(engine)


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
    return all(
        table.name in have and all(c.name in have[table.name] for c in table.columns)
        for table in all_tables()
    )


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
