"""Looking after the box: `doctor [--json]`, `backup FILE [--with-history]`,
`restore FILE [--force]` and `migrate`.

Parents run these with sudo on the Pi. Files the commands create beside the database (safety
copies, a database made by `migrate`) are handed to the database folder's owner, so the
service, which runs as its own user, can still use them.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from agent.cli import CliError
from agent.config import Config
from agent.store import urls
from agent.store.db import StoreError


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check the box and the network for common problems")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("backup", help="save the household (and optionally history) to a file")
    p.add_argument("file", metavar="FILE", help="the file to write (.gz to compress)")
    p.add_argument(
        "--with-history", action="store_true", help="include the query log, events and summaries"
    )
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="replace the household with one from a backup file")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--force", action="store_true", help="replace a household already set up")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("migrate", help="upgrade the database (also done at every start)")
    p.set_defaults(func=cmd_migrate)


def cmd_doctor(cfg: Config, args: argparse.Namespace) -> int:
    from agent.ops import doctor

    findings = doctor.run_checks(cfg)
    if args.json:
        print(json.dumps(doctor.as_json(findings), indent=2))
    else:
        print(doctor.as_text(findings, cfg.source))
    return 0 if all(f.ok is not False for f in findings) else 1


def cmd_migrate(cfg: Config, args: argparse.Namespace) -> int:
    result = _migrate(cfg)
    print(result.summary())
    return 0


def cmd_backup(cfg: Config, args: argparse.Namespace) -> int:
    from agent.ops.backup import BackupError, write_backup

    try:
        report = write_backup(_database(cfg), Path(args.file), with_history=args.with_history)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    print(f"backed up {report.summary()} to {report.path}")
    return 0


def cmd_restore(cfg: Config, args: argparse.Namespace) -> int:
    from agent.ops.backup import BackupError, read_header, restore_backup

    path, source = _database(cfg), Path(args.file)
    try:
        read_header(source)  # a wrong file is refused before the database is touched
        _migrate(cfg)
        report = restore_backup(path, source, force=args.force)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    finally:
        _give_to_owner(path)
    print(f"restored {report.summary()} from {source}")
    return 0


def _database(cfg: Config) -> Path:
    path = cfg.database_path
    if path is None and urls.is_postgres(cfg.store.url):
        # The server's own tools copy a live database consistently, roles and all; this file
        # format is a SQLite box's. Nothing was read or changed.
        raise CliError(
            "the household is in PostgreSQL, so back it up with PostgreSQL's own tools: "
            f'pg_dump -Fc -f houserules.dump -d "{urls.shown(cfg.store.url)}" (and pg_restore '
            "to put it back). "
            "houserules backup and restore work with a SQLite database"
        )
    if path is None:
        raise CliError("backup and restore work with a SQLite database file")
    return path


def _migrate(cfg: Config) -> Any:
    from agent.store.migrate import migrate

    try:
        return migrate(cfg.database_url)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        if cfg.database_path is not None:
            _give_to_owner(cfg.database_path)


def _give_to_owner(db: Path) -> None:
    """Run as root, hand files root created in the database folder to the folder's owner."""
    folder = db.parent
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not folder.is_dir():
        return
    owner = folder.stat()
    if owner.st_uid == 0:
        return
    names = (db.name, f"{db.name}-wal", f"{db.name}-shm", "backups")
    paths = [folder / n for n in names]
    paths += [p for p in (folder / "backups").glob("*") if (folder / "backups").is_dir()]
    for p in paths:
        try:
            if p.exists() and p.stat().st_uid == 0:
                os.chown(p, owner.st_uid, owner.st_gid)
        except OSError:
            continue
