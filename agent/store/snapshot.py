"""The household as the DNS process reads it: plain sqlite3, read-only, no ORM.

The DNS process polls the version once a second and reloads the snapshot when it moves. Doing
that with the standard library alone keeps SQLAlchemy, SQLModel and pydantic (some 40 MB) out
of the process that answers every query. The rows go through the same converters as the
household store's, so both see the same household.

No column is named here: each table is read whole (`SELECT *`) and each value is turned back
into Python by the type its column was declared with (the tables are the SQLModel classes in
`household_tables`; a test holds that what this reads is exactly their columns). A new column
on a household table needs no change in this file.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agent.rules.household import Budget, Household
from agent.rules.policy import PolicyHolder
from agent.store.household_rows import (
    to_budget,
    to_child,
    to_device,
    to_overlay,
    to_pause,
    to_rule,
    to_schedule,
)

log = logging.getLogger(__name__)
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


class SnapshotUnavailable(Exception):
    """The database cannot be read yet (missing, not migrated, locked for too long)."""


def _connect(path: Path) -> sqlite3.Connection:
    if not Path(path).exists():
        raise SnapshotUnavailable(f"{path} does not exist yet")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.5)
    conn.isolation_level = None  # explicit BEGIN below: every read sees one moment
    return conn


def read_version(path: Path) -> int:
    """The household version; 0 before the first change."""
    try:
        with _closing(_connect(path)) as conn:
            row = conn.execute("SELECT version FROM household_meta WHERE id = 1").fetchone()
    except sqlite3.Error as exc:
        raise SnapshotUnavailable(f"{path}: {exc}") from exc
    return row[0] if row else 0


def read_household(path: Path) -> Household:
    """The whole household, read in one transaction (the version first, as the store does)."""
    try:
        with _closing(_connect(path)) as conn:
            conn.execute("BEGIN")
            row = conn.execute("SELECT version FROM household_meta WHERE id = 1").fetchone()
            tables = {name: read_table(conn, name) for name in TABLES}
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise SnapshotUnavailable(f"{path}: {exc}") from exc
    try:
        return Household(
            children=tuple(to_child(r) for r in tables["children"]),
            devices=tuple(to_device(r) for r in tables["devices"]),
            rules=tuple(to_rule(r) for r in tables["rules"]),
            schedules=tuple(to_schedule(r) for r in tables["schedules"]),
            pauses=tuple(to_pause(r) for r in tables["pauses"]),
            overlays=tuple(to_overlay(r) for r in tables["overlays"]),
            budgets=_budgets(tables["budgets"], tables["budget_use"]),
            version=row[0] if row else 0,
        )
    except AttributeError as exc:  # a column this version reads is not there yet
        raise SnapshotUnavailable(f"{path} is not migrated yet ({exc})") from exc


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


class HouseholdFollower:
    """Follows the household for a process that decides (the DNS process, the proxy): `poll`
    reads it again only when its version has moved, and says once, not every second, when it
    cannot be read."""

    def __init__(
        self,
        path: Path | None,
        where: str,
        unavailable: str,
        read_version: Callable[[Path], int] = read_version,
        read_household: Callable[[Path], Household] = read_household,
    ) -> None:
        """`where` names the database in messages when it is not a SQLite file (`path` None);
        `unavailable` says what happens meanwhile ("the strictest defaults apply")."""
        self.path, self.where, self.unavailable = path, where, unavailable
        self.read_version, self.read_household = read_version, read_household
        self.version: int | None = None
        self._said = ""

    def poll(self) -> Household | None:
        """The household if a parent changed it since the last poll, else None."""
        try:
            if self.path is None:
                raise SnapshotUnavailable(f"{self.where} is not a SQLite file")
            if self.read_version(self.path) == self.version:
                return None
            household = self.read_household(self.path)
        except SnapshotUnavailable as exc:
            if str(exc) != self._said:
                self._said = str(exc)
                log.warning("house rules unavailable (%s); %s", exc, self.unavailable)
            return None
        self._said = ""
        self.version = household.version
        log.info("house rules updated (version %d)", household.version)
        return household

    def refresh(self, holder: PolicyHolder) -> bool:
        """Swap a changed household into `holder`; True when there was one."""
        household = self.poll()
        if household is None:
            return False
        holder.update(household=household)
        return True
