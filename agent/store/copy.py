"""Copying a whole HouseRules database into another one: how a home moves from the box's SQLite
file to a PostgreSQL server that two boxes share (`houserules store copy`).

    report = copy_database("sqlite:////var/lib/houserules/houserules.db",
                           "postgresql://houserules@192.168.1.2/houserules")
    print(report.summary())

Both databases are first brought to the newest schema (the same migrations as at every start).
A target that already holds anything is refused unless `replace=True`, which empties it first.
Every table is copied in the order its foreign keys need, in batches, inside one transaction on
the target (all of it or nothing), while the source is read in one read transaction (one
consistent picture even if the box is still running). PostgreSQL's id sequences are then moved
past the copied ids, and each table's rows are counted again on both sides.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, func, insert, select, text, update
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlmodel import SQLModel

from agent.store.db import StoreError, explain, make_engine
from agent.store.migrate import import_tables, migrate

BATCH_ROWS = 5_000
POSTGRES_EXTRA = "pip install 'houserules[postgres]'"
ON_THE_BOX = "sudo /opt/houserules/venv/bin/pip install 'psycopg[binary]>=3.1'"  # the same


class CopyError(StoreError):
    """The copy could not be made; the target was left as it was."""


@dataclass
class CopyReport:
    source: str
    target: str
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows, in copying order
    replaced: str = ""  # what the target held before, in words ("" when it was empty)
    not_copied: tuple[str, ...] = ()  # tables the source has that HouseRules does not know

    def summary(self) -> str:
        rows = sum(self.counts.values())
        text = f"copied {rows} rows in {len(self.counts)} tables from {self.source} to "
        text += f"{self.target}; every table's rows counted again on both sides and they match"
        if self.replaced:
            text += f" (it replaced {self.replaced})"
        return text

    def lines(self) -> list[str]:
        width = max((len(t) for t in self.counts), default=0)
        return [f"  {t:<{width}}  {n:>9}" for t, n in self.counts.items()]


def database_url(url: str) -> URL:
    """`url` as SQLAlchemy wants it: plain postgresql:// means psycopg 3. Raises CopyError for
    what is not a database URL, or names a PostgreSQL without its driver installed."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise CopyError(
            repr(url), "it is not a database URL (postgresql://user@host/database)"
        ) from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":  # the short form some hosting services hand out
        backend = "postgresql"
    if backend not in ("sqlite", "postgresql"):
        raise CopyError(
            _shown(parsed), f"HouseRules keeps its household in SQLite or PostgreSQL, not {backend}"
        )
    if backend == "postgresql":
        if driver in ("psycopg2", "pg8000", "asyncpg"):
            raise CopyError(_shown(parsed), f"use postgresql:// (psycopg 3), not {driver}")
        if importlib.util.find_spec("psycopg") is None:
            raise CopyError(
                _shown(parsed),
                f"the PostgreSQL driver (psycopg) is not installed: {POSTGRES_EXTRA} "
                f"(on a box installed by deploy/install.sh: {ON_THE_BOX})",
            )
        parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database:
            raise CopyError(_shown(parsed), "the URL names no database (…/houserules at the end)")
    return parsed


def copy_database(
    source: str,
    target: str,
    *,
    replace: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> CopyReport:
    """Copy every table of `source` into `target` (see the module docstring).

    Raises `CopyError` (a `StoreError`) naming the cause; the target is then as it was, apart
    from the newest schema the migrations gave it."""
    src_url, dst_url = database_url(source), database_url(target)
    if src_url == dst_url:
        raise CopyError(_shown(dst_url), "it is the database being copied")
    import_tables()
    tables = list(SQLModel.metadata.sorted_tables)
    src, dst = _open(src_url), _open(dst_url)
    try:
        report = CopyReport(_shown(src_url), _shown(dst_url))
        with src.connect() as reading:
            _read_snapshot(reading)
            report.not_copied = _unknown_tables(reading, tables)
            expected = {t.name: _count(reading, t) for t in tables}
            with dst.begin() as writing:
                held = _held(writing, tables)
                if held and not replace:
                    raise CopyError(
                        report.target,
                        f"it already holds a household ({held}); nothing was copied. "
                        "Add --replace to replace it with the copy",
                    )
                before = _household_version(writing)  # a box may have read it already
                for table in reversed(tables):
                    writing.execute(table.delete())
                for table in tables:
                    report.counts[table.name] = _copy_table(
                        reading, writing, table, batch_rows, report.target
                    )
                if before:
                    _move_version_past(writing, before)
                if writing.dialect.name == "postgresql":
                    _fix_sequences(writing, tables)
                report.replaced = held
            reading.rollback()
        _verify(dst, tables, expected, report)
        return report
    finally:
        src.dispose()
        dst.dispose()


def _open(url: URL) -> Engine:
    """The engine for `url`, the database migrated to the newest schema."""
    shown = _shown(url)
    try:
        engine = make_engine(url.render_as_string(hide_password=False))
    except StoreError as exc:
        raise CopyError(shown, _reach_cause(url, exc.cause)) from None
    try:
        migrate(engine)
    except StoreError as exc:
        engine.dispose()
        raise CopyError(shown, exc.cause) from None
    return engine


def _reach_cause(url: URL, cause: str) -> str:
    if url.get_backend_name() != "postgresql":
        return cause
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    first = cause.strip().splitlines()[0] if cause.strip() else cause
    return f"the PostgreSQL server at {where} could not be used ({first})"


def _read_snapshot(conn: Connection) -> None:
    """One consistent picture of the source while it is read, even if the box writes to it."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN")
    else:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


def _unknown_tables(conn: Connection, tables: list[Table]) -> tuple[str, ...]:
    from sqlalchemy import inspect

    known = {t.name for t in tables} | {"alembic_version"}
    found = inspect(conn).get_table_names()
    return tuple(sorted(n for n in found if n not in known and not n.startswith("sqlite_")))


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _held(conn: Connection, tables: list[Table]) -> str:
    """What the target already holds, in words; "" when there is nothing to lose. The
    household's version row, which the migrations may write, does not count."""
    found = [(t.name, _count(conn, t)) for t in tables if t.name != "household_meta"]
    return ", ".join(f"{name}: {n} rows" for name, n in found if n)


def _household_version(conn: Connection) -> int:
    meta = SQLModel.metadata.tables["household_meta"]
    value = conn.execute(select(func.max(meta.c.version))).scalar()
    return int(value or 0)


def _move_version_past(conn: Connection, before: int) -> None:
    """A replaced household gets a version past the one it replaced, so every DNS process that
    had read the old one reads the new one."""
    meta = SQLModel.metadata.tables["household_meta"]
    version = max(before, _household_version(conn)) + 1
    if not conn.execute(update(meta).values(version=version)).rowcount:
        conn.execute(insert(meta).values(id=1, version=version))


def _copy_table(
    reading: Connection, writing: Connection, table: Table, batch_rows: int, target: str
) -> int:
    copied = 0
    for rows in _batches(reading, table, batch_rows):
        try:
            writing.execute(table.insert(), rows)
        except DBAPIError as exc:
            raise CopyError(
                target,
                f"the rows of {table.name} could not be written ({explain(exc).splitlines()[0]});"
                " nothing was copied",
            ) from None
        copied += len(rows)
    return copied


def _batches(conn: Connection, table: Table, size: int) -> Iterator[list[dict[str, Any]]]:
    order = list(table.primary_key.columns) or list(table.columns)
    result = conn.execution_options(yield_per=size).execute(select(table).order_by(*order))
    for part in result.partitions(size):
        yield [dict(row._mapping) for row in part]


def _fix_sequences(conn: Connection, tables: list[Table]) -> None:
    """Ids were copied as they were: move each id sequence past the largest, so the next row
    PostgreSQL numbers itself does not collide with a copied one."""
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column.name},
        ).scalar()
        if sequence is None:
            continue
        top = conn.execute(select(func.max(column))).scalar()
        conn.execute(
            text("SELECT setval(CAST(:seq AS regclass), :value, :called)"),
            {"seq": sequence, "value": top if top is not None else 1, "called": top is not None},
        )


def _verify(engine: Engine, tables: list[Table], expected: dict[str, int], report: Any) -> None:
    with engine.connect() as conn:
        found = {t.name: _count(conn, t) for t in tables}
    wrong = [
        f"{name}: {expected[name]} in the source, {found[name]} copied"
        for name in expected
        if found[name] != expected[name] or report.counts.get(name) != expected[name]
    ]
    if wrong:
        raise CopyError(
            report.target, "the rows counted after the copy differ: " + "; ".join(wrong)
        )


def _shown(url: URL) -> str:
    """The URL as shown to a person: any password masked."""
    backend = url.drivername.partition("+")[0]
    return url.set(drivername=backend).render_as_string(hide_password=True)
