"""Storage: the only package that talks SQL. Everything else calls these functions.

The names below load on first use (PEP 562), so a module that needs only part of the store
(the DNS process reads the household with plain sqlite3) does not pay for SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "StoreError": "agent.store.db",
    "init_db": "agent.store.db",
    "make_engine": "agent.store.db",
    "sqlite_file": "agent.store.db",
    "LogEntry": "agent.store.querylog",
    "QueryLogRow": "agent.store.querylog",
    "QueryLogWriter": "agent.store.querylog",
    "count_rows": "agent.store.querylog",
    "prune_query_log": "agent.store.querylog",
    "recent": "agent.store.querylog",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
