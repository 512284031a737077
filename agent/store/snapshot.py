"""The household as the DNS process reads it from SQLite: plain sqlite3, read-only, no ORM.

The DNS process polls the version once a second and reloads the snapshot when it moves. Doing
that with the standard library alone keeps SQLAlchemy, SQLModel and pydantic (some 40 MB) out
of the process that answers every query. The rows go through the same converters as the
household store's, so both see the same household.

No column is named here: each table is read whole (`SELECT *`) and each value is turned back
into Python by the type its column was declared with (the tables are the SQLModel classes in
`household_tables`; a test holds that what this reads is exactly their columns). A new column
on a household table needs no change in this file.

The rows read (`Rows`) become a `Household` in `household_from`, whichever reader read them: this
one, the PostgreSQL one (`pgsnapshot`, whose driver hands back dates, times and booleans
already typed) or the copy kept on local disk (`snapshot_copy`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agent.rules.household import Budget, Household
from agent.store.household_rows import (
    to_budget,
    to_child,
    to_device,
    to_overlay,
    to_pause,
    to_rule,
    to_schedule,
)

TABLES = (
    "children", "devices", "rules", "schedules", "pauses", "overlays", "budgets", "budget_use"
)  # fmt: skip
# Added by later migrations (0005h, 0006t): missing before them, read as empty.
LATE = frozenset({"overlays", "budgets", "budget_use"})
# How SQLAlchemy stores these declared types in SQLite (text, 0/1), turned back into Python.
PARSE: dict[str, Callable[[Any], Any]] = {
    "DATE": date.fromisoformat,
    "TIME": time.fromisoformat,
    "DATETIME": datetime.fromisoformat,
    "BOOLEAN": bool,
}


VERSION_SQL = "SELECT version FROM household_meta WHERE id = 1"


class SnapshotUnavailable(Exception):
    """The database cannot be read yet (missing, not migrated, locked for too long, away)."""


@dataclass(frozen=True)
class Rows:
    """The household tables as read, in one transaction: each row one attribute per column."""

    version: int
    tables: dict[str, list[Any]]


def _connect(path: Path, check_same_thread: bool = True) -> sqlite3.Connection:
    if not Path(path).exists():
        raise SnapshotUnavailable(f"{path} does not exist yet")
    conn = sqlite3.connect(
        f"file:{path}?mode=ro", uri=True, timeout=0.5, check_same_thread=check_same_thread
    )
    conn.isolation_level = None  # explicit BEGIN below: every read sees one moment
    return conn


def read_version(path: Path) -> int:
    """The household version; 0 before the first change."""
    try:
        with _closing(_connect(path)) as conn:
            row = conn.execute(VERSION_SQL).fetchone()
    except sqlite3.Error as exc:
        raise SnapshotUnavailable(f"{path}: {exc}") from exc
    return row[0] if row else 0


class VersionReader:
    """`read_version` on one connection kept open between reads, for a process that asks once
    a second (the DNS process): opening the file cost ~0.55 ms of CPU a poll, taken from the
    core that answers DNS; the query on an open connection costs ~3 us. It opens again when
    the path holds another file (a restore put a new one there) and after any error. Each read
    runs to its end, so no read transaction stays open to hold back the WAL's checkpoints."""

    def __init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._file: tuple[str, int, int] | None = None  # the open file: path, device, inode

    def __call__(self, path: Path) -> int:
        try:
            found = os.stat(path)
        except OSError:
            self.close()
            raise SnapshotUnavailable(f"{path} does not exist yet") from None
        file = (str(path), found.st_dev, found.st_ino)
        try:
            if self._conn is None or file != self._file:
                self.close()
                self._conn = _connect(path, check_same_thread=False)  # the ticker's, after a start
                self._file = file
            rows = self._conn.execute(VERSION_SQL).fetchall()
        except sqlite3.Error as exc:
            self.close()
            raise SnapshotUnavailable(f"{path}: {exc}") from exc
        return rows[0][0] if rows else 0

    def close(self) -> None:
        conn, self._conn, self._file = self._conn, None, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


def read_rows(path: Path) -> Rows:
    """Every household table, read in one transaction (the version first, as the store does)."""
    try:
        with _closing(_connect(path)) as conn:
            conn.execute("BEGIN")
            row = conn.execute("SELECT version FROM household_meta WHERE id = 1").fetchone()
            tables = {name: read_table(conn, name) for name in TABLES}
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise SnapshotUnavailable(f"{path}: {exc}") from exc
    return Rows(row[0] if row else 0, tables)


def read_household(path: Path) -> Household:
    """The whole household, read in one transaction."""
    return household_from(read_rows(path), str(path))


def household_from(rows: Rows, where: str) -> Household:
    """The household the rows hold, through the store's own converters."""
    tables = rows.tables
    try:
        return Household(
            children=tuple(to_child(r) for r in tables["children"]),
            devices=tuple(to_device(r) for r in tables["devices"]),
            rules=tuple(to_rule(r) for r in tables["rules"]),
            schedules=tuple(to_schedule(r) for r in tables["schedules"]),
            pauses=tuple(to_pause(r) for r in tables["pauses"]),
            overlays=tuple(to_overlay(r) for r in tables["overlays"]),
            budgets=_budgets(tables["budgets"], tables["budget_use"]),
            version=rows.version,
        )
    except (AttributeError, KeyError) as exc:  # a column this version reads is not there yet
        raise SnapshotUnavailable(f"{where} is not migrated yet ({exc})") from exc


def _budgets(budgets: list[Any], used: list[Any]) -> tuple[Budget, ...]:
    """Each budget with the minutes the insights job last counted for it."""
    by_budget = {u.budget_id: u for u in used}
    return tuple(to_budget(b, by_budget.get(b.id)) for b in budgets)


def read_table(conn: sqlite3.Connection, table: str) -> list[Any]:
    """Every row of a household table, in key order, one attribute per column."""
    info = list(conn.execute(f"PRAGMA table_info({table})"))
    declared = {c[1]: str(c[2]).upper() for c in info}
    if not declared and table in LATE:
        return []
    key = "id" if "id" in declared else next(c[1] for c in info if c[5])  # the primary key
    cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {key}")
    names = [d[0] for d in cursor.description]
    parse = [PARSE.get(declared.get(n, "")) for n in names]
    out = []
    for values in cursor:
        fields = {
            n: (f(v) if f is not None and v is not None else v)
            for n, f, v in zip(names, parse, values, strict=True)
        }
        out.append(SimpleNamespace(**fields))
    return out


class _closing:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc: object) -> None:
        self.conn.close()
