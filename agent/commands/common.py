"""What every command that reads or changes the household needs: the database, the time zone,
the box's time and the app catalogue.

The database is opened the way `houserules init` and the agent open it: migrated to the
newest schema (after a safety copy, when there is anything to apply).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import Engine

from agent.cli import CliError
from agent.config import Config
from agent.rules.catalog import Catalog, CatalogError, load_catalog
from agent.store.db import StoreError, make_engine
from agent.store.migrate import migrate


def zone(cfg: Config) -> ZoneInfo:
    try:
        return ZoneInfo(cfg.rules.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CliError(f"rules.timezone {cfg.rules.timezone!r} is not a known timezone") from None


def engine(cfg: Config) -> Engine:
    try:
        eng = make_engine(cfg.database_url)
        migrate(eng)
    except StoreError as exc:  # MigrationError included: the old database is untouched
        raise CliError(str(exc)) from None
    return eng


def now(cfg: Config) -> datetime:
    """The box's time in its own zone (tests replace this)."""
    return datetime.now(zone(cfg))


def catalog() -> Catalog:
    try:
        return load_catalog()
    except CatalogError as exc:
        raise CliError(str(exc).splitlines()[0]) from None
