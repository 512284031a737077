"""Parent accounts for the dashboard, and the login throttle.

Passwords are kept only as argon2id hashes (argon2-cffi's defaults; a hash made with older
settings is replaced at the next login). There is no default account: the first one is made on
the setup page, atomically, so two people racing for it cannot both win. Each account carries a
`session_version`; changing the password moves it, which logs out every other session.

Failed logins are counted in the database, so restarting the box does not reset a lock-out:
after `allowed` failures in a row a key waits `base` seconds, doubling with each further
failure up to `cap`. A success clears the count; a day without failures forgets it. Three kinds
of key are counted: the client address, the account tried (so rotating addresses does not give
more guesses at one password) and, for the one-time setup code, the box as a whole
(`throttle_keys`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_PASSWORD = 10
MAX_PASSWORD = 200
FORGET_AFTER = 86_400.0  # seconds without a failure before a client's count starts again


class AccountError(ValueError):
    """A mistake a parent can fix (a short password, a name in use); one line."""


class ParentAccountRow(SQLModel, table=True):
    __tablename__ = "parent_accounts"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    name_key: str = Field(unique=True)  # lower-case: names are unique ignoring case
    password_hash: str
    session_version: int = 1
    created_at: float  # unix seconds
    last_login_at: float | None = None


class LoginAttemptRow(SQLModel, table=True):
    __tablename__ = "login_attempts"
    client: str = Field(primary_key=True)  # the address the attempts came from
    failures: int = 0
    last_failure: float = 0.0
    locked_until: float = 0.0


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    session_version: int
    created_at: datetime  # UTC
    last_login_at: datetime | None = None


@cache
def _hasher() -> PasswordHasher:
    # argon2 (and cffi) load on the first login or new password, not with the jobs process,
    # which imports this module at start only to ask whether any account exists
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    # Verified against when the name is unknown, so a wrong name takes as long as a wrong
    # password and the timing does not say which names exist.
    return _hasher().hash("not anybody's password")


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _moment(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _key(name: str) -> str:
    return " ".join(name.split()).lower()


def check_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or len(name) > 40 or not name.isprintable():
        raise AccountError("A name must be 1 to 40 characters")
    return name


def check_password(password: str, name: str = "") -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(
            f"Use at least {MIN_PASSWORD} characters: three random words are easy to remember"
        )
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"Use at most {MAX_PASSWORD} characters")
    if name and password.strip().lower() == _key(name):
        raise AccountError("The password must not be the name")
    return password


# Accounts ----------------------------------------------------------------------------------


def has_accounts(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM parent_accounts LIMIT 1")).first() is not None


def list_accounts(engine: Engine) -> list[Account]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM parent_accounts ORDER BY id")).all()
    return [_account(r) for r in rows]


def get_account(engine: Engine, account_id: int) -> Account | None:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM parent_accounts WHERE id = :id"), {"id": account_id}
        ).first()
    return _account(row) if row is not None else None


def create_account(
    engine: Engine, name: str, password: str, when: datetime, *, first: bool = False
) -> Account:
    """Add a parent. `first=True` (the setup page) succeeds only while there is no account."""
    name = check_name(name)
    check_password(password, name)
    hashed = _hasher().hash(password)
    values = {"n": name, "k": _key(name), "h": hashed, "t": _ts(when)}
    insert = (
        "INSERT INTO parent_accounts (name, name_key, password_hash, session_version, "
        "created_at) SELECT :n, :k, :h, 1, :t"
    )
    with engine.begin() as conn:
        if first:
            # One statement: two people on the setup page at once cannot both make an account.
            insert += " WHERE NOT EXISTS (SELECT 1 FROM parent_accounts)"
        elif conn.execute(
            text("SELECT 1 FROM parent_accounts WHERE name_key = :k"), values
        ).first():
            raise AccountError(f"There is already a parent called {name}")
        done = conn.execute(text(insert + " RETURNING id"), values).first()
        if done is None:
            raise AccountError("The first account has already been made: log in instead")
        row = conn.execute(
            text("SELECT * FROM parent_accounts WHERE id = :id"), {"id": done.id}
        ).one()
    return _account(row)


def authenticate(engine: Engine, name: str, password: str, when: datetime) -> Account | None:
    """The account if the name and password match, else None (in about the same time)."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM parent_accounts WHERE name_key = :k"), {"k": _key(name)}
        ).first()
    if row is None or len(password) > MAX_PASSWORD:
        _verify(_dummy_hash(), password[:MAX_PASSWORD])
        return None
    if not _verify(row.password_hash, password):
        return None
    values = {"id": row.id, "t": _ts(when)}
    sql = "UPDATE parent_accounts SET last_login_at = :t"
    if _hasher().check_needs_rehash(row.password_hash):
        sql += ", password_hash = :h"
        values["h"] = _hasher().hash(password)
    with engine.begin() as conn:
        conn.execute(text(sql + " WHERE id = :id"), values)
    return get_account(engine, row.id)


def change_password(engine: Engine, account_id: int, old: str, new: str) -> Account:
    """A new password after checking the old one; every other session is logged out."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM parent_accounts WHERE id = :id"), {"id": account_id}
        ).first()
    if row is None:
        raise AccountError("There is no such account")
    if not _verify(row.password_hash, old):
        raise AccountError("The current password is not right")
    check_password(new, row.name)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE parent_accounts SET password_hash = :h, "
                "session_version = session_version + 1 WHERE id = :id"
            ),
            {"h": _hasher().hash(new), "id": account_id},
        )
    account = get_account(engine, account_id)
    assert account is not None
    return account


def remove_account(engine: Engine, account_id: int) -> None:
    """Remove a parent's account; the last one cannot go (nobody could log in)."""
    with engine.begin() as conn:
        count = conn.execute(text("SELECT count(*) FROM parent_accounts")).scalar_one()
        found = conn.execute(
            text("SELECT 1 FROM parent_accounts WHERE id = :id"), {"id": account_id}
        ).first()
        if found is None:
            raise AccountError("There is no such account")
        if count <= 1:
            raise AccountError("This is the only account: add another parent first")
        conn.execute(text("DELETE FROM parent_accounts WHERE id = :id"), {"id": account_id})


def _verify(hashed: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def _account(r: Any) -> Account:
    return Account(
        id=r.id,
        name=r.name,
        session_version=r.session_version,
        created_at=_moment(r.created_at) or datetime.now(UTC),
        last_login_at=_moment(r.last_login_at),
    )


# The login throttle ------------------------------------------------------------------------

SETUP_KEY = "setup-code"  # the setup code is one secret for the whole box: one count for all
ACCOUNT_PREFIX = "account:"


def throttle_keys(engine: Engine, client: str, name: str | None = None) -> tuple[str, ...]:
    """The keys a try from `client` counts against: its address, and the account it names when
    that account exists (names that match nothing add no rows, so guessing names fills nothing);
    with no name, the setup code's one box-wide key."""
    if name is None:
        return (client, SETUP_KEY)
    with engine.connect() as conn:
        found = conn.execute(
            text("SELECT 1 FROM parent_accounts WHERE name_key = :k"), {"k": _key(name)}
        ).first()
    return (client, ACCOUNT_PREFIX + _key(name)) if found else (client,)


def login_wait(engine: Engine, client: str, when: datetime) -> float:
    """Seconds `client` must wait before its next try (0: it may try now)."""
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT locked_until FROM login_attempts WHERE client = :c"), {"c": client}
        ).first()
    return max(0.0, row.locked_until - _ts(when)) if row is not None else 0.0


def note_failure(
    engine: Engine, client: str, when: datetime, *, allowed: int, base: float, cap: float
) -> float:
    """Count a failed try; returns the seconds `client` must now wait (0 if none yet)."""
    now = _ts(when)
    with engine.begin() as conn:
        conn.execute(
            text("DELETE FROM login_attempts WHERE last_failure < :old AND locked_until < :now"),
            {"old": now - FORGET_AFTER, "now": now},
        )
        row = conn.execute(
            text("SELECT failures FROM login_attempts WHERE client = :c"), {"c": client}
        ).first()
        failures = (row.failures if row is not None else 0) + 1
        over = failures - max(1, allowed)
        wait = min(cap, base * 2 ** min(over, 40)) if over >= 0 else 0.0
        conn.execute(
            text(
                "INSERT INTO login_attempts (client, failures, last_failure, locked_until) "
                "VALUES (:c, :f, :t, :u) ON CONFLICT (client) DO UPDATE SET "
                "failures = :f, last_failure = :t, locked_until = :u"
            ),
            {"c": client, "f": failures, "t": now, "u": now + wait},
        )
    return wait


def note_success(engine: Engine, client: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM login_attempts WHERE client = :c"), {"c": client})
