"""Schema migrations: Alembic revisions in `agent/store/migrations/versions`, applied at start.

`migrate(engine_or_url)` brings a database to the newest revision:

- a database made by `create_all` before migrations existed (no `alembic_version` table) is
  stamped at the newest revision whose tables and columns it already has, then upgraded;
- before any revision is applied, a copy of the SQLite file is made with sqlite3's backup API
  (a plain file copy can miss pages still in the WAL) into `<database folder>/backups`;
- each revision runs in its own transaction (SQLite's DDL is transactional once pysqlite's own
  transaction handling is switched off), and if one fails the copy is written back, so the
  database is exactly as it was; `MigrationError` names the revision and the cause.

A schema change is a new revision. Change the SQLModel tables, then generate it with

    python -m agent.store.migrate revision "add events"

which compares a scratch database upgraded to the current head with `SQLModel.metadata` and
writes `versions/NNNN_add_events.py` for review (`tests/test_migrate.py` fails until it exists).
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect
from sqlalchemy.engine import URL, Connection, Engine, create_engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from agent.store.db import (
    TABLE_MODULES,
    StoreError,
    apply_pragmas,
    explain,
    sqlalchemy_url,
    sqlite_file,
)
from agent.store.dialect import MIGRATION_TURN

log = logging.getLogger(__name__)
# Alembic narrates every step at INFO; `migrate` logs one line of its own instead.
logging.getLogger("alembic").setLevel(logging.WARNING)

SCRIPTS = Path(__file__).resolve().parent / "migrations"
KEEP_BACKUPS = 3  # safety copies kept per database; each is as big as the database
Schema = dict[str, frozenset[str]]  # table -> column names


class MigrationError(StoreError):
    """The database could not be brought up to date; it was left as it was."""


@dataclass(frozen=True)
class MigrationResult:
    database: str
    before: str | None  # the revision found (after stamping an old database), None if new
    after: str
    applied: tuple[str, ...] = ()
    backup: Path | None = None
    stamped: str | None = None  # set when an old create_all database was recognised

    def summary(self) -> str:
        found = f" (recognised as revision {self.stamped})" if self.stamped else ""
        if not self.applied:
            return f"the database {self.database}{found} is up to date (revision {self.after})"
        text = f"upgraded the database {self.database}{found} to revision {self.after}"
        text += f" ({', '.join(self.applied)})"
        return text + (f"; a copy of the old one is in {self.backup}" if self.backup else "")


# Drivers a box installs only when its store needs them (pip install 'houserules[postgres]');
# the modules that import them hold readers, not tables.
OPTIONAL_DRIVERS = frozenset({"psycopg"})


def import_tables() -> None:
    """Import every module that may define tables, so SQLModel.metadata is complete: the
    ones `init_db` knows and every other module of `agent.store` (a table whose module was
    left out of TABLE_MODULES must still get its migration)."""
    names = [*TABLE_MODULES]
    names += [f"agent.store.{m.name}" for m in pkgutil.iter_modules([str(Path(__file__).parent)])]
    for name in names:
        if name.startswith(("agent.store.migrat", "agent.store.__")):
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name in OPTIONAL_DRIVERS:  # the PostgreSQL readers, on a SQLite box
                continue
            if exc.name != name:  # the module exists but something it imports is missing
                raise


def alembic_config(location: Path | None = None, connection: Connection | None = None) -> Any:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(location or SCRIPTS))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.attributes["connection"] = connection
    return cfg


def scripts(location: Path | None = None) -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(location))


def head_revision(location: Path | None = None) -> str:
    heads = scripts(location).get_heads()
    if len(heads) != 1:
        raise MigrationError(
            str(location or SCRIPTS),
            f"the migrations have {len(heads)} heads ({', '.join(heads)}); two revisions "
            "follow the same parent: give one of them the other as down_revision",
        )
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic has never touched."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def schema_of(conn: Connection) -> Schema:
    found = inspect(conn)
    return {
        t: frozenset(c["name"] for c in found.get_columns(t))
        for t in found.get_table_names()
        if t != "alembic_version" and not t.startswith("sqlite_")
    }


def schema_differences(engine: Engine) -> list[Any]:
    """What `SQLModel.metadata` has that the database lacks (Alembic's autogenerate diff)."""
    import_tables()
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, SQLModel.metadata)


def migration_engine(url: str | URL) -> Engine:
    """An engine for migrating: real transactions around DDL, foreign keys off (table rebuilds
    must not cascade), no pooling (the backup copy may be written back underneath it)."""
    engine = create_engine(
        sqlalchemy_url(str(url)) if isinstance(url, str) else url, poolclass=NullPool
    )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # pysqlite must not begin or commit on its own
    apply_pragmas(dbapi_conn)
    dbapi_conn.execute("PRAGMA foreign_keys = OFF")


def migrate(
    target: Engine | str,
    backup_dir: Path | None = None,
    *,
    location: Path | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> MigrationResult:
    """Bring the database to the newest revision (see the module docstring).

    Raises `MigrationError` (a `StoreError`) if it cannot; the database is then unchanged.
    """
    import_tables()
    url = make_url(sqlalchemy_url(target) if isinstance(target, str) else target.url)
    path = sqlite_file(str(url))
    name = str(path or url)
    head = head_revision(location)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MigrationError(name, f"its folder cannot be created: {explain(exc)}") from exc
    engine = migration_engine(url) if path or isinstance(target, str) else target
    try:
        with _one_box_at_a_time(engine, name):
            return _migrate(engine, location, name, path, head, backup_dir, now)
    finally:
        if engine is not target:
            engine.dispose()


@contextmanager
def _one_box_at_a_time(engine: Engine, name: str) -> Iterator[None]:
    """On PostgreSQL, two boxes starting together after an upgrade take turns (an advisory
    lock for the whole migration): the second then finds the database at head. SQLite has one
    box, and its writes wait for each other anyway."""
    if engine.dialect.name == "sqlite":
        yield
        return
    try:
        conn = engine.connect()
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_TURN})")
        conn.commit()
    except Exception as exc:
        raise MigrationError(name, explain(exc)) from exc
    try:
        yield
    finally:
        with suppress(Exception):
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_TURN})")
            conn.commit()
        conn.close()


def _migrate(
    engine: Engine,
    location: Path | None,
    name: str,
    path: Path | None,
    head: str,
    backup_dir: Path | None,
    now: Callable[[], datetime],
) -> MigrationResult:
    current, stamped, had_tables = _recognise(engine, location, name)
    before = current or stamped
    if before == head:
        if stamped:
            _stamp(engine, location, stamped)
        _check_complete(engine, name)
        return MigrationResult(name, before, head, stamped=stamped)
    pending = _pending(location, before, head)
    backup = None
    if path is not None and had_tables:
        backup = _backup(path, backup_dir or path.parent / "backups", before, head, now())
    applied = _upgrade(engine, location, name, (before, stamped), pending, path, backup)
    _check_complete(engine, name)
    log.info("database %s upgraded to %s (%s)", name, head, ", ".join(applied))
    return MigrationResult(name, before, head, tuple(applied), backup, stamped)


def _recognise(
    engine: Engine, location: Path | None, name: str
) -> tuple[str | None, str | None, bool]:
    """The database's revision; for one made by create_all (no revision), the revision it
    matches, to be stamped; and whether it has any tables."""
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            found = schema_of(conn)
            conn.rollback()
    except Exception as exc:
        raise MigrationError(name, explain(exc)) from exc
    known = scripts(location)
    if current is not None:
        try:
            known.get_revision(current)
        except Exception:
            raise MigrationError(
                name,
                f"it is at revision {current}, which this version of HouseRules does not know: "
                "it was made by a newer version. Install that version again, or restore a backup",
            ) from None
        return current, None, bool(found)
    stamp = _matching_revision(found, location) if found else None
    if stamp is not None:
        log.info("database %s predates migrations; recognised as revision %s", name, stamp)
    return None, stamp, bool(found)


def _stamp(engine: Engine, location: Path | None, revision: str) -> None:
    with engine.connect() as conn:
        command.stamp(alembic_config(location, conn), revision)
        conn.commit()


def _matching_revision(found: Schema, location: Path | None) -> str | None:
    """The newest revision whose tables and columns `found` already has (None: not even the
    first; then the first creates what is missing, its tables being `if_not_exists`).

    A revision that changes no schema (a data migration) never counts as matched: a database
    from before migrations never had it applied, so it runs."""
    match, previous = None, None
    for revision, schema in revision_schemas(location):
        if any(not cols <= found.get(table, frozenset()) for table, cols in schema.items()):
            break
        if schema != previous:
            match, previous = revision, schema
    return match


def revision_schemas(location: Path | None = None) -> Iterator[tuple[str, Schema]]:
    """(revision, the schema right after it) from the first revision to the head, computed by
    upgrading a scratch in-memory database one step at a time."""
    order = [s.revision for s in scripts(location).walk_revisions()][::-1]
    engine = migration_engine("sqlite://")  # NullPool: one connection for the whole walk
    try:
        with engine.connect() as conn:
            for revision in order:
                command.upgrade(alembic_config(location, conn), revision)
                conn.commit()
                yield revision, schema_of(conn)
    finally:
        engine.dispose()


def _pending(location: Path | None, before: str | None, head: str) -> list[str]:
    steps = scripts(location).iterate_revisions(head, before or "base")
    return [s.revision for s in steps][::-1]


def _upgrade(
    engine: Engine,
    location: Path | None,
    name: str,
    start: tuple[str | None, str | None],
    pending: Sequence[str],
    path: Path | None,
    backup: Path | None,
) -> list[str]:
    """Stamp (if the database was recognised) and apply `pending`; on failure, put the safety
    copy back and raise."""
    before, stamp = start
    applied: list[str] = []

    def note(*, step: Any, **_: Any) -> None:
        if step.is_upgrade:
            applied.append(step.up_revision_id)

    try:
        if stamp:
            _stamp(engine, location, stamp)
        with engine.connect() as conn:
            cfg = alembic_config(location, conn)
            cfg.attributes["on_version_apply"] = note
            command.upgrade(cfg, pending[-1])
            conn.commit()
    except Exception as exc:
        failed = pending[len(applied)] if len(applied) < len(pending) else pending[-1]
        doc = scripts(location).get_revision(failed).doc or ""
        what = f"upgrading it to revision {failed}" + (f" ({doc})" if doc else "")
        kept = _put_back(engine, path, backup, applied)
        at = applied[-1] if applied and (path is None or backup is None) else before
        raise MigrationError(
            name, f"{what} failed: {explain(exc)}. {kept} (revision {at or 'none'})"
        ) from exc
    return applied


def _put_back(engine: Engine, path: Path | None, backup: Path | None, applied: list[str]) -> str:
    if path is None or backup is None:  # PostgreSQL, or a new SQLite file: nothing to copy back
        if applied:
            return (
                "Each revision is one transaction: that one was undone, and the ones before "
                f"it ({', '.join(applied)}) stand"
            )
        return "Each revision is one transaction, so the database was left as it was"
    engine.dispose()
    try:
        _copy(backup, path)
    except (sqlite3.Error, OSError) as exc:
        return (
            f"Putting the old database back also failed ({explain(exc)}): "
            f"copy {backup} over {path} by hand"
        )
    return f"The database was left exactly as it was; a copy is also in {backup}"


def _check_complete(engine: Engine, name: str) -> None:
    """Refuse a database that lacks tables or columns the code uses (a schema change that
    came without a migration): better one clear message now than errors on every query."""
    with engine.connect() as conn:
        found = schema_of(conn)
        conn.rollback()
    missing: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        have = found.get(table.name)
        if have is None:
            missing.append(f"the table {table.name}")
        else:
            missing += [f"{table.name}.{c.name}" for c in table.columns if c.name not in have]
    if missing:
        raise MigrationError(
            name,
            f"it lacks {', '.join(missing)}, which this version of HouseRules uses but none of "
            "its migrations creates. That is a bug in HouseRules: a schema change needs a "
            'revision (python -m agent.store.migrate revision "...")',
        )


# Safety copies ------------------------------------------------------------------------------


def _backup(path: Path, folder: Path, before: str | None, head: str, when: datetime) -> Path:
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    dest = folder / f"{path.stem}-{stamp}-{before or 'none'}-to-{head}.db"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        _copy(path, dest)
    except (sqlite3.Error, OSError) as exc:
        raise MigrationError(
            str(path),
            f"a safety copy could not be made in {folder} before upgrading ({explain(exc)}); "
            "nothing was changed",
        ) from exc
    for old in sorted(folder.glob(f"{path.stem}-*-to-*.db"))[:-KEEP_BACKUPS]:
        old.unlink(missing_ok=True)
    return dest


def _copy(source: Path, dest: Path) -> None:
    """Copy a live SQLite database page by page (WAL content included)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(dest)) as dst:
        src.backup(dst)


# New revisions ------------------------------------------------------------------------------


def make_revision(message: str, location: Path | None = None, *, empty: bool = False) -> Path:
    """Write the next revision (0002, 0003...) from the difference between the migrations and
    the models; `empty` for a data-only revision. Returns the new file."""
    import_tables()
    known = [s.revision for s in scripts(location).walk_revisions()]
    # A branch's revision may carry a letter ("0005h"): its number still counts.
    numbers = (int(r.rstrip("abcdefghijklmnopqrstuvwxyz")) for r in known)
    number = max(numbers, default=0) + 1
    with tempfile.TemporaryDirectory() as folder:
        engine = migration_engine(f"sqlite:///{folder}/scratch.db")
        try:
            with engine.connect() as conn:
                command.upgrade(alembic_config(location, conn), "head")
                conn.commit()
                changes = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
                if not changes and not empty:
                    raise SystemExit("nothing to do: the migrations already match the models")
                cfg = alembic_config(location, conn)
                script = command.revision(
                    cfg, message=message, autogenerate=not empty, rev_id=f"{number:04d}"
                )
                conn.commit()
        finally:
            engine.dispose()
    path = Path(script.path)  # type: ignore[union-attr]
    for args in (("format", "-q"), ("check", "--fix", "-q")):  # generated code, house style
        subprocess.run([sys.executable, "-m", "ruff", *args, str(path)], check=False)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) >= 2 and args[0] == "revision":
        empty = "--empty" in args
        message = " ".join(a for a in args[1:] if a != "--empty")
        print(f"wrote {make_revision(message, empty=empty)}: review it, then run the tests")
        return 0
    if args == ["heads"]:
        print(head_revision())
        return 0
    print('usage: python -m agent.store.migrate revision "what changed" [--empty] | heads')
    return 2


if __name__ == "__main__":
    sys.exit(main())
