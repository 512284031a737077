"""Database URLs in one place: which engine a `[store] url` names, and how each client spells it.

A household writes `postgresql://user@host/db` (the libpq spelling, also `postgres://`);
SQLAlchemy needs the driver named (`postgresql+psycopg://`) and psycopg wants the libpq spelling
back. Standard library only, so the DNS process and the log writer can ask without SQLAlchemy.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

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


EXAMPLE = "postgresql://houserules@db.lan:5432/houserules"


def problem(url: str) -> str | None:
    """What is wrong with `url` as a `[store] url`, in a parent's words; None if nothing.

    Only the form is checked here (no password is ever repeated): whether the server answers
    is for `check-config` to say, and whether psycopg is installed for `config_checks`."""
    name = scheme(url)
    if name.split("+", 1)[0] == "sqlite":
        return None
    if not is_postgres(url):
        shown = f"{name}://..." if name else repr(url.split(":", 1)[0])
        return f"must be a sqlite:///... or postgresql://... URL, not {shown}"
    if name not in (*_POSTGRES_SCHEMES, POSTGRES_DRIVER):
        return (
            f"HouseRules reaches PostgreSQL through psycopg 3: write postgresql://... "
            f"(or {POSTGRES_DRIVER}://...), not {name}://..."
        )
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return "the PostgreSQL port must be a number from 1 to 65535"
    if port == 0:
        return "the PostgreSQL port must be a number from 1 to 65535"
    if not unquote(parts.path.lstrip("/")):
        return f"must name the database, like {EXAMPLE}"
    return None


def shown(url: str) -> str:
    """`url` fit to print: a PostgreSQL one in the libpq spelling (as pg_dump takes it) without
    its password; any other as it is."""
    if not is_postgres(url):
        return url
    parts = urlsplit(libpq_url(url))
    if parts.password is None:
        return parts.geturl()
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return parts._replace(netloc=f"{user}@{host}" if user else host).geturl()
