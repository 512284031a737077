"""Moving the household to another database: `store copy [--from URL] --to URL [--replace]`.

Used once, when a home that ran on one box's SQLite file moves to a PostgreSQL server that two
boxes share (docs/raspberry-pi.md, "A second box"). The copying itself is `agent.store.copy`.
"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli import CliError
from agent.commands.maintenance import _give_to_owner
from agent.config import Config
from agent.store.db import StoreError


def register(sub: Any) -> None:
    p = sub.add_parser("store", help="move the household to another database")
    what = p.add_subparsers(dest="store_command", metavar="WHAT", required=True)
    c = what.add_parser(
        "copy",
        help="copy the whole database (household, accounts, carers, history) into another one",
        description=(
            "Copy every table into another database, for example a PostgreSQL server that two "
            "boxes share. Stop HouseRules first (sudo systemctl stop houserules), so nothing "
            "written during the copy is left behind."
        ),
    )
    c.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="the database to copy (default: [store] url in the config)",
    )
    c.add_argument(
        "--to", dest="target", metavar="URL", required=True, help="postgresql://user@host/database"
    )
    c.add_argument(
        "--replace", action="store_true", help="replace what the target database already holds"
    )
    c.set_defaults(func=cmd_copy)


def cmd_copy(cfg: Config, args: argparse.Namespace) -> int:
    from agent.store.copy import copy_database

    source = args.source or cfg.database_url
    print("copying every table; a long history takes a minute or two", flush=True)
    try:
        report = copy_database(source, args.target, replace=args.replace)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    finally:
        if not args.source and cfg.database_path is not None:
            _give_to_owner(cfg.database_path)  # run with sudo: a WAL or safety copy root made
    if report.not_copied:
        print(f"not copied (HouseRules does not use them): {', '.join(report.not_copied)}")
    print("rows in each table, counted again in both databases:")
    print("\n".join(report.lines()))
    print(report.summary())
    return 0
