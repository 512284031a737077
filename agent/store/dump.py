"""Whole tables in and out, for `agent.ops.backup`: the SQL of backing up and restoring.

    with reading(db_path) as conn:            # one consistent snapshot
        columns_present(conn); revision(conn); rows(conn, "children", ["id", "name", ...])
    with replacing(db_path) as conn:          # one transaction: all of it or nothing
        household_in_use(conn, names); empty(conn, names); insert_rows(conn, table, cols, rows)
        household_replaced(conn, before); broken_references(conn)

Values go in and out as SQLite stores them, so a restore gives back exactly the same rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Table

from agent.store.sqlite import connect


@contextmanager
def reading(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection inside one read transaction: the service may write meanwhile."""
    with closing(connect(db_path)) as conn:
        conn.execute("BEGIN")
        yield conn
        conn.execute("COMMIT")


@contextmanager
def replacing(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A connection inside one write transaction, committed only if the block ends normally.
    Foreign keys are checked at the end (`broken_references`), not row by row."""
    with closing(connect(db_path)) as conn:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def columns_present(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """Each table the database has, with its columns in order."""
    names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {n: [c[1] for c in conn.execute(f"PRAGMA table_info({_quote(n)})")] for n in names}


def revision(conn: sqlite3.Connection) -> str | None:
    """The schema revision (Alembic's), None before the first migration."""
    with suppress(sqlite3.Error):
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None
    return None


def rows(conn: sqlite3.Connection, table: str, columns: list[str]) -> Iterator[tuple[Any, ...]]:
    cols = ", ".join(_quote(c) for c in columns)
    yield from conn.execute(f"SELECT {cols} FROM {_quote(table)} ORDER BY rowid")


def household_in_use(conn: sqlite3.Connection, tables: Iterable[str]) -> str:
    """What a restore would replace, in words ("" for a fresh box). Devices the box has merely
    seen do not count: a box that ran for a minute before the restore has seen some."""
    found = []
    for name in tables:
        if name == "household_meta":
            continue
        where = " WHERE owner != 'unassigned' OR name IS NOT NULL" if name == "devices" else ""
        (n,) = conn.execute(f"SELECT count(*) FROM {_quote(name)}{where}").fetchone()
        if n:
            found.append(f"{name}: {n}")
    return ", ".join(found)


def empty(conn: sqlite3.Connection, tables: Iterable[str]) -> None:
    for name in tables:
        conn.execute(f"DELETE FROM {_quote(name)}")


def insert_rows(
    conn: sqlite3.Connection, table: Table, columns: list[str], values: list[list[Any]]
) -> None:
    """Insert rows; columns the rows lack (an older backup) get the model's default."""
    extra = [
        c
        for c in table.columns
        if c.name not in columns and not (c.primary_key and c.autoincrement)
    ]
    defaults = [_default(c) for c in extra]
    names = [*columns, *(c.name for c in extra)]
    marks = ", ".join("?" * len(names))
    sql = f"INSERT INTO {_quote(table.name)} ({', '.join(map(_quote, names))}) VALUES ({marks})"
    conn.executemany(sql, (row + defaults for row in values))


def household_version(conn: sqlite3.Connection) -> int:
    with suppress(sqlite3.Error):
        row = conn.execute("SELECT version FROM household_meta WHERE id = 1").fetchone()
        return int(row[0]) if row else 0
    return 0


def household_replaced(conn: sqlite3.Connection, before: int) -> None:
    """After the household tables were refilled: move the version past both the one before
    and the one restored, so the DNS process (which reloads when it moves) always reloads."""
    version = max(before, household_version(conn)) + 1
    conn.execute("DELETE FROM household_meta")
    conn.execute("INSERT INTO household_meta (id, version) VALUES (1, ?)", (version,))


def broken_references(conn: sqlite3.Connection) -> set[str]:
    """Tables with rows whose foreign keys point nowhere."""
    return {row[0] for row in conn.execute("PRAGMA foreign_key_check")}


def _default(column: Any) -> Any:
    default = column.default
    if default is None or not getattr(default, "is_scalar", False):
        return None
    value = default.arg
    return int(value) if isinstance(value, bool) else value


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
