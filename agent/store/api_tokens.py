"""Tokens for the JSON API (`/api/v1`) and `/metrics`: named, read-only or read-write.

A token is 32 random bytes (`secrets.token_urlsafe`), shown to the parent once and kept only as
its SHA-256. A slow password hash (argon2) protects short, guessable passwords; a token has 256
bits of entropy, so nobody can guess one from its hash and a fast hash is enough, and it lets a
request find its token with one indexed lookup. Revoking deletes the row. Each use records when
(at most once a minute, so a busy phone shortcut does not write on every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

PREFIX = "hr_"  # makes a leaked token recognisable in a log or a chat
SCOPES = ("read", "write")
TOUCH_EVERY = 60.0  # seconds between last-used writes for one token


class TokenError(ValueError):
    """A mistake a parent can fix (an empty name, a name in use); one line."""


class ApiTokenRow(SQLModel, table=True):
    __tablename__ = "api_tokens"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    name_key: str = Field(unique=True)
    token_hash: str = Field(unique=True)  # hex SHA-256 of the whole token
    scope: str  # "read" | "write"
    created_at: float  # unix seconds
    last_used_at: float | None = None


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None

    @property
    def can_write(self) -> bool:
        return self.scope == "write"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(engine: Engine, name: str, scope: str, when: datetime) -> tuple[ApiToken, str]:
    """A new token: its record, and the token itself (shown once, never stored)."""
    name = " ".join(str(name).split())
    if not name or len(name) > 40 or not name.isprintable():
        raise TokenError("A token's name must be 1 to 40 characters")
    if scope not in SCOPES:
        raise TokenError("A token is read-only or read-write")
    token = PREFIX + secrets.token_urlsafe(32)
    values = {"n": name, "k": name.lower(), "h": digest(token), "s": scope, "t": _ts(when)}
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM api_tokens WHERE name_key = :k"), values).first():
            raise TokenError(f"There is already a token called {name}")
        row = conn.execute(
            text(
                "INSERT INTO api_tokens (name, name_key, token_hash, scope, created_at) "
                "VALUES (:n, :k, :h, :s, :t) RETURNING *"
            ),
            values,
        ).one()
    return _token(row), token


def list_tokens(engine: Engine) -> list[ApiToken]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM api_tokens ORDER BY id")).all()
    return [_token(r) for r in rows]


def revoke_token(engine: Engine, token_id: int) -> bool:
    """Delete a token; False if there was none with that id."""
    with engine.begin() as conn:
        done = conn.execute(text("DELETE FROM api_tokens WHERE id = :id"), {"id": token_id})
    return bool(done.rowcount)


def check_token(engine: Engine, token: str, when: datetime) -> ApiToken | None:
    """The token's record if `token` is one of ours (its last use noted), else None."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    hashed = digest(token)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT * FROM api_tokens WHERE token_hash = :h"), {"h": hashed}
        ).first()
    # the lookup is by hash, so its timing says nothing about the token; compare anyway
    if row is None or not hmac.compare_digest(row.token_hash, hashed):
        return None
    now = _ts(when)
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE api_tokens SET last_used_at = :t WHERE id = :id"),
                {"t": now, "id": row.id},
            )
        return _token(row, last_used=now)
    return _token(row)


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _token(r: Any, last_used: float | None = None) -> ApiToken:
    used = last_used if last_used is not None else r.last_used_at
    return ApiToken(
        id=r.id,
        name=r.name,
        scope=r.scope,
        created_at=datetime.fromtimestamp(r.created_at, UTC),
        last_used_at=datetime.fromtimestamp(used, UTC) if used is not None else None,
    )
