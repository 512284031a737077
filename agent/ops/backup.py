"""`houserules backup FILE` / `houserules restore FILE`: the household as one file.

The file is JSON Lines (gzip-compressed when its name ends in .gz): a header line naming the
format, its version, the schema revision and each table's columns; then one line per row,
`["table", [values...]]`; then a closing line with the row counts, so a file cut short (a full
SD card, a pulled USB stick) is recognised and refused rather than half restored.

Every table in `SQLModel.metadata` is included, so tables added later (carers, accounts) are
backed up without changing this module, except the history tables (the query log, events,
rollups and the insights derived from them), which are large and only come with
`with_history=True`. Values are copied as SQLite stores them (numbers, text, NULL; bytes as
base64), so a restore gives back exactly the same rows, ids included.

This module holds the file format; the SQL (reading whole tables, refilling them, moving the
household version so the DNS reloads) is the store's, in `agent.store.dump`.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import MetaData, Table
from sqlmodel import SQLModel

from agent.private import private_file
from agent.store import dump
from agent.store.db import explain
from agent.store.migrate import import_tables, scripts

FORMAT = "houserules-backup"
VERSION = 1
# History: tables written by the DNS path and the jobs that summarise it. Named here, and also
# recognised by the module that defines them (so a new rollup table is history too).
HISTORY_TABLES = frozenset({"query_log", "events"})
HISTORY_MODULES = ("agent.store.querylog", "agent.store.events", "agent.store.rollup")
HISTORY_MODULES += ("agent.store.insight",)
BATCH = 1_000


class BackupError(Exception):
    """The backup cannot be made or restored; one line a parent can act on."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    rows: dict[str, int]
    with_history: bool
    revision: str | None

    def summary(self) -> str:
        named = {"children": ("child", "children"), "devices": ("device", "devices")}
        named |= {"rules": ("rule", "rules"), "schedules": ("schedule", "schedules")}
        parts = []
        for table, (one, many) in named.items():
            n = self.rows.get(table, 0)
            parts.append(f"{n} {one if n == 1 else many}")
        other = sum(n for t, n in self.rows.items() if t not in named)
        text = ", ".join(parts) + f" and {other} other rows"
        return text + (" (with history)" if self.with_history else " (without history)")


def history_tables() -> frozenset[str]:
    """Names of the high-volume tables that only `--with-history` includes."""
    import_tables()
    by_module = {
        m.local_table.name
        for m in SQLModel._sa_registry.mappers  # type: ignore[attr-defined]
        if m.class_.__module__.startswith(HISTORY_MODULES)
    }
    return HISTORY_TABLES | by_module


def backup_tables(with_history: bool, metadata: MetaData | None = None) -> list[Table]:
    """The tables a backup holds, parents before children (foreign keys)."""
    meta = metadata if metadata is not None else _models()
    history = history_tables()
    return [t for t in meta.sorted_tables if with_history or t.name not in history]


def _models() -> MetaData:
    import_tables()
    return SQLModel.metadata


# Writing ------------------------------------------------------------------------------------


def write_backup(
    db_path: Path,
    dest: Path,
    *,
    with_history: bool = False,
    metadata: MetaData | None = None,
    now: datetime | None = None,
) -> BackupReport:
    """Write the household (and optionally history) to `dest`, atomically."""
    if not db_path.exists():
        raise BackupError(f"there is no database at {db_path} yet: nothing to back up")
    partial = dest.with_name(dest.name + ".partial")
    rows: dict[str, int] = {}
    try:
        with dump.reading(db_path) as conn:  # one snapshot: the service may write meanwhile
            present = dump.columns_present(conn)
            tables = [t for t in backup_tables(with_history, metadata) if t.name in present]
            revision = dump.revision(conn)
            header = {
                "format": FORMAT,
                "version": VERSION,
                "created": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
                "schema_revision": revision,
                "with_history": with_history,
                "tables": {t.name: present[t.name] for t in tables},
            }
            with _open_write(partial) as out:
                out.write(_line(header))
                for table in tables:
                    rows[table.name] = _write_rows(out, conn, table.name, present[table.name])
                out.write(_line({"end": True, "rows": rows}))
                out.flush()
        _fsync(partial)
        partial.replace(dest)
    except (sqlite3.Error, OSError) as exc:
        with suppress(OSError):
            partial.unlink()
        raise BackupError(f"could not write the backup {dest}: {explain(exc)}") from exc
    return BackupReport(dest, rows, with_history, revision)


def _write_rows(out: IO[str], conn: sqlite3.Connection, table: str, columns: list[str]) -> int:
    n = 0
    for row in dump.rows(conn, table, columns):
        out.write(_line([table, [_encode(v) for v in row]]))
        n += 1
    return n


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


def _encode(value: Any) -> Any:
    return {"base64": base64.b64encode(value).decode()} if isinstance(value, bytes) else value


def _decode(value: Any) -> Any:
    return base64.b64decode(value["base64"]) if isinstance(value, dict) else value


def _open_write(path: Path) -> IO[str]:
    private_file(path)  # a backup holds the whole family's data
    if path.name.endswith(".gz.partial"):
        return gzip.open(path, "wt", encoding="utf-8")
    return path.open("w", encoding="utf-8")


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


# Reading and restoring ----------------------------------------------------------------------


def read_header(src: Path) -> dict[str, Any]:
    with closing(_lines(src)) as lines:
        return _check_header(src, next(lines, None))


def _lines(src: Path) -> Iterator[Any]:
    try:
        with src.open("rb") as probe:
            zipped = probe.read(2) == b"\x1f\x8b"
        opener = gzip.open if zipped else open
        with opener(src, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            for number, text in enumerate(fh, 1):
                try:
                    yield json.loads(text)
                except json.JSONDecodeError:
                    raise BackupError(f"{src} is damaged (line {number} is not JSON)") from None
    except FileNotFoundError:
        raise BackupError(f"there is no file {src}") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise BackupError(f"{src} cannot be read: {exc}") from None


def _check_header(src: Path, header: Any) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BackupError(f"{src} is not a HouseRules backup")
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise BackupError(
            f"{src} was made by a newer version of HouseRules (backup format "
            f"{header.get('version')}); upgrade HouseRules, then restore"
        )
    return header


def restore_backup(
    db_path: Path, src: Path, *, force: bool = False, metadata: MetaData | None = None
) -> BackupReport:
    """Replace the household (and the history, if the file has it) with the file's.

    The database must be migrated first. Refuses to replace a household in use unless
    `force`; nothing is changed unless the whole file is read and written."""
    lines = _lines(src)
    try:
        header = _check_header(src, next(lines, None))
        targets = _targets(src, header, metadata)
        with dump.replacing(db_path) as conn:
            rows = _replace(conn, src, header, targets, lines, force)
    except sqlite3.Error as exc:
        raise BackupError(f"could not restore into {db_path}: {explain(exc)}") from exc
    finally:
        lines.close()
    return BackupReport(src, rows, bool(header.get("with_history")), header.get("schema_revision"))


def _targets(src: Path, header: dict[str, Any], metadata: MetaData | None) -> dict[str, Table]:
    """The tables to empty and refill, checking the file fits this version of HouseRules."""
    revision = header.get("schema_revision")
    if revision is not None:
        try:
            scripts().get_revision(revision)
        except Exception:
            raise BackupError(
                f"{src} comes from a newer version of HouseRules (schema {revision}); "
                "upgrade HouseRules, then restore"
            ) from None
    chosen = {t.name: t for t in backup_tables(bool(header.get("with_history")), metadata)}
    tables = header.get("tables")
    if not isinstance(tables, dict):
        raise BackupError(f"{src} is damaged (no list of tables)")
    for name, columns in tables.items():
        table = chosen.get(name)
        unknown = [c for c in columns if table is None or c not in table.c]
        if table is None or unknown:
            what = name if table is None else f"{name}.{', '.join(unknown)}"
            raise BackupError(
                f"{src} holds {what}, which this version of HouseRules does not have: it was "
                "made by a newer version; upgrade HouseRules, then restore"
            )
    return chosen


def _replace(
    conn: sqlite3.Connection,
    src: Path,
    header: dict[str, Any],
    targets: dict[str, Table],
    lines: Iterator[Any],
    force: bool,
) -> dict[str, int]:
    present = dump.columns_present(conn)
    missing = [name for name in targets if name not in present]
    if missing:
        raise BackupError(f"the database lacks {', '.join(missing)}: run houserules migrate first")
    in_use = dump.household_in_use(conn, [t for t in targets if t not in history_tables()])
    if in_use and not force:
        raise BackupError(
            f"this box already has a household ({in_use}). Restoring replaces it: "
            "run the restore again with --force to do that"
        )
    before = dump.household_version(conn)
    dump.empty(conn, reversed(list(targets)))
    rows = _insert_all(conn, src, header["tables"], targets, lines)
    if "household_meta" in targets:
        dump.household_replaced(conn, before)
    broken = dump.broken_references(conn) & set(targets)
    if broken:
        raise BackupError(f"{src} is damaged (rows in {', '.join(sorted(broken))} point nowhere)")
    return rows


def _insert_all(
    conn: sqlite3.Connection,
    src: Path,
    columns: dict[str, list[str]],
    targets: dict[str, Table],
    lines: Iterable[Any],
) -> dict[str, int]:
    rows = dict.fromkeys(columns, 0)
    pending: dict[str, list[list[Any]]] = {}
    for item in lines:
        if isinstance(item, dict) and item.get("end"):
            for name, batch in pending.items():
                dump.insert_rows(conn, targets[name], columns[name], batch)
            if item.get("rows") != rows:
                raise BackupError(f"{src} is damaged (its row counts do not match)")
            return rows
        if not (isinstance(item, list) and len(item) == 2 and item[0] in columns):
            raise BackupError(f"{src} is damaged (a row for an unknown table)")
        name, values = item
        rows[name] += 1
        batch = pending.setdefault(name, [])
        batch.append([_decode(v) for v in values])
        if len(batch) >= BATCH:
            dump.insert_rows(conn, targets[name], columns[name], batch)
            batch.clear()
    raise BackupError(f"{src} is incomplete (it ends early, perhaps a full disk): nothing changed")
