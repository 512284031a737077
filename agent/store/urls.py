"""Database URLs in one place: which engine a `[store] url` names, and how each client spells it.

A household writes `postgresql://user@host/db` (the libpq spelling, also `postgres://`);
SQLAlchemy needs the driver named (`postgresql+psycopg://`) and psycopg wants the libpq spelling
back. Standard library only, so the DNS process and the log writer can ask without SQLAlchemy.
"""

from __future__ import annotations

POSTGRES_DRIVER = "postgresql+psycopg"
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def scheme(url: str) -> str:
    """The part before `://`, lower-cased ('' when there is none)."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def is_postgres(url: str) -> bool:
    """Whether `url` names a PostgreSQL database (any driver spelling)."""
    return scheme(url).split("+", 1)[0] in _POSTGRES_SCHEMES


def is_sqlite(url: str) -> bool:
    return scheme(url).split("+", 1)[0] == "sqlite"


def sqlalchemy_url(url: str) -> str:
    """`url` as SQLAlchemy wants it: PostgreSQL through psycopg 3; anything else unchanged."""
    if scheme(url) in _POSTGRES_SCHEMES:
        return POSTGRES_DRIVER + url[url.index("://") :]
    return url


def libpq_url(url: str) -> str:
    """A PostgreSQL `url` as psycopg.connect() takes it (`postgresql://...`, no driver name)."""
    if not is_postgres(url):
        raise ValueError(f"not a PostgreSQL URL: {url.partition('://')[0]}://...")
    return "postgresql" + url[url.index("://") :]
