"""Storage: the only package that talks SQL. Everything else calls these functions."""

from agent.store.db import StoreError, init_db, make_engine, sqlite_file
from agent.store.querylog import (
    LogEntry,
    QueryLogRow,
    QueryLogWriter,
    count_rows,
    prune_query_log,
    recent,
)

__all__ = [
    "LogEntry",
    "QueryLogRow",
    "QueryLogWriter",
    "StoreError",
    "count_rows",
    "init_db",
    "make_engine",
    "prune_query_log",
    "recent",
    "sqlite_file",
]
