"""The household as the DNS process reads it: plain sqlite3, read-only, no ORM.

The DNS process polls the version once a second and reloads the snapshot when it moves. Doing
that with the standard library alone keeps SQLAlchemy, SQLModel and pydantic (some 40 MB) out
of the process that answers every query. The rows go through the same converters as the
household store's, so both see the same household.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agent.rules.household import Household
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
QUERIES = {
    "children": "SELECT id, name, born, protections_on, youtube_level, safe_search FROM children",
    "devices": "SELECT id, mac, ip, name, owner, child_id, shared_with, inspect, first_seen,"
    " last_seen, pending_mac FROM devices",
    "rules": "SELECT id, child_id, verb, kind, value FROM rules",
    "schedules": "SELECT id, child_id, name, days, start, end, block_all, block, allow"
    " FROM schedules",
    "pauses": "SELECT id, child_id, device_id, until FROM pauses",
    "overlays": "SELECT id, child_id, kind, until, schedule_id, target_kind, target,"
    " request_id, created, minutes FROM overlays",
    "budgets": "SELECT id, child_id, kind, target, days, reset_hour, budget_use.day AS used_day,"
    " budget_use.minutes AS used FROM budgets LEFT JOIN budget_use ON budget_id = id",
}
# Tables (and columns) later migrations added: a database not yet migrated reads them as empty.
LATE = {
    "overlays": (
        "SELECT id, child_id, kind, until, schedule_id, target_kind, target, request_id,"
        " created FROM overlays"
    ),  # 0005h; `minutes` came with 0006t
    "budgets": None,  # 0006t
}
# How SQLAlchemy stores these types in SQLite (text), turned back into Python values.
PARSE = {
    "born": date.fromisoformat,
    "start": time.fromisoformat,
    "end": time.fromisoformat,
    "first_seen": datetime.fromisoformat,
    "last_seen": datetime.fromisoformat,
    "until": datetime.fromisoformat,
    "created": datetime.fromisoformat,
    "used_day": date.fromisoformat,
    "protections_on": bool,
    "safe_search": bool,
    "inspect": bool,
    "block_all": bool,
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
            tables = {name: _rows(conn, sql) for name, sql in QUERIES.items() if name not in LATE}
            for name, older in LATE.items():
                tables[name] = _late_rows(conn, QUERIES[name], older)
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise SnapshotUnavailable(f"{path}: {exc}") from exc
    return Household(
        children=tuple(to_child(r) for r in tables["children"]),
        devices=tuple(to_device(r) for r in tables["devices"]),
        rules=tuple(to_rule(r) for r in tables["rules"]),
        schedules=tuple(to_schedule(r) for r in tables["schedules"]),
        pauses=tuple(to_pause(r) for r in tables["pauses"]),
        overlays=tuple(to_overlay(r) for r in tables["overlays"]),
        budgets=tuple(to_budget(r) for r in tables["budgets"]),
        version=row[0] if row else 0,
    )


def _late_rows(conn: sqlite3.Connection, sql: str, older: str | None) -> list[Any]:
    """Rows of a table a database not yet migrated lacks (read as empty, not unavailable),
    or read without the columns it lacks (`older`)."""
    try:
        return _rows(conn, sql)
    except sqlite3.OperationalError as exc:
        if "no such column" in str(exc) and older is not None:
            return _late_rows(conn, older, None)
        if "no such table" not in str(exc):
            raise
        return []


def _rows(conn: sqlite3.Connection, sql: str) -> list[Any]:
    cursor = conn.execute(sql + " ORDER BY id")
    names = [d[0] for d in cursor.description]
    out = []
    for values in cursor:
        fields = {
            n: (PARSE[n](v) if v is not None and n in PARSE else v)
            for n, v in zip(names, values, strict=True)
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
