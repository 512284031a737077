"""Parent accounts and the login throttle on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy.engine import Engine

from agent.store import accounts
from agent.store.accounts import AccountError
from agent.store.db import init_db, make_engine

T0 = datetime(2026, 11, 18, 18, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"
LIMITS = {"allowed": 5, "base": 60.0, "cap": 3600.0}


@pytest.fixture
def engine(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", lambda: cheap)
    eng = make_engine(store_url)
    init_db(eng)
    return eng


def test_passwords_are_stored_only_as_argon2id_hashes(engine: Engine) -> None:
    accounts.create_account(engine, "Mum", PASSWORD, T0, first=True)
    with engine.connect() as conn:
        (stored,) = conn.exec_driver_sql("SELECT password_hash FROM parent_accounts").one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_the_real_hasher_uses_argon2id() -> None:
    accounts._hasher.cache_clear()  # type: ignore[attr-defined]
    assert accounts._hasher().type.name == "ID"


def test_authenticate(engine: Engine) -> None:
    made = accounts.create_account(engine, "Mum", PASSWORD, T0, first=True)
    assert accounts.authenticate(engine, "mum ", PASSWORD, T0 + timedelta(hours=1)) == (
        accounts.get_account(engine, made.id)
    )
    assert accounts.get_account(engine, made.id).last_login_at == T0 + timedelta(hours=1)
    assert accounts.authenticate(engine, "Mum", "wrong password", T0) is None
    assert accounts.authenticate(engine, "Nobody", PASSWORD, T0) is None
    assert accounts.authenticate(engine, "Mum", "x" * 10_000, T0) is None


def test_only_one_first_account(engine: Engine) -> None:
    assert not accounts.has_accounts(engine)
    accounts.create_account(engine, "Mum", PASSWORD, T0, first=True)
    with pytest.raises(AccountError, match="already been made"):
        accounts.create_account(engine, "Child", "i got here first!", T0, first=True)
    assert [a.name for a in accounts.list_accounts(engine)] == ["Mum"]


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("Dad", "short", "at least 10"),
        ("Dad", "y" * 201, "at most 200"),
        ("Gran Smith", "gran smith", "must not be the name"),
        ("", PASSWORD, "1 to 40 characters"),
        ("mum", PASSWORD, "already a parent called mum"),
    ],
)
def test_account_mistakes(engine: Engine, name: str, password: str, message: str) -> None:
    accounts.create_account(engine, "Mum", PASSWORD, T0, first=True)
    with pytest.raises(AccountError, match=message):
        accounts.create_account(engine, name, password, T0)


def test_a_password_change_moves_the_session_version(engine: Engine) -> None:
    mum = accounts.create_account(engine, "Mum", PASSWORD, T0, first=True)
    with pytest.raises(AccountError, match="current password"):
        accounts.change_password(engine, mum.id, "wrong", "a whole new password")
    changed = accounts.change_password(engine, mum.id, PASSWORD, "a whole new password")
    assert changed.session_version == mum.session_version + 1
    assert accounts.authenticate(engine, "Mum", "a whole new password", T0) is not None
    assert accounts.authenticate(engine, "Mum", PASSWORD, T0) is None


def test_the_last_account_cannot_be_removed(engine: Engine) -> None:
    mum = accounts.create_account(engine, "Mum", PASSWORD, T0, first=True)
    with pytest.raises(AccountError, match="only account"):
        accounts.remove_account(engine, mum.id)
    dad = accounts.create_account(engine, "Dad", "another good password", T0)
    accounts.remove_account(engine, dad.id)
    with pytest.raises(AccountError, match="no such account"):
        accounts.remove_account(engine, dad.id)


def test_an_old_hash_is_replaced_at_login(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts.create_account(engine, "Mum", PASSWORD, T0, first=True)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", lambda: stronger)
    assert accounts.authenticate(engine, "Mum", PASSWORD, T0) is not None
    with engine.connect() as conn:
        (stored,) = conn.exec_driver_sql("SELECT password_hash FROM parent_accounts").one()
    assert "m=2048,t=2" in stored


def test_failures_lock_a_client_out_with_a_doubling_wait(engine: Engine) -> None:
    for _ in range(4):
        assert accounts.note_failure(engine, "192.168.1.9", T0, **LIMITS) == 0
    assert accounts.login_wait(engine, "192.168.1.9", T0) == 0
    assert accounts.note_failure(engine, "192.168.1.9", T0, **LIMITS) == 60
    assert accounts.note_failure(engine, "192.168.1.9", T0, **LIMITS) == 120
    assert accounts.login_wait(engine, "192.168.1.9", T0 + timedelta(seconds=20)) == 100
    assert accounts.login_wait(engine, "192.168.1.10", T0) == 0  # per address
    for _ in range(20):
        wait = accounts.note_failure(engine, "192.168.1.9", T0, **LIMITS)
    assert wait == 3600  # capped
    accounts.note_success(engine, "192.168.1.9")
    assert accounts.login_wait(engine, "192.168.1.9", T0) == 0


def test_old_failures_are_forgotten(engine: Engine) -> None:
    for _ in range(4):
        accounts.note_failure(engine, "192.168.1.9", T0, **LIMITS)
    later = T0 + timedelta(days=2)
    assert accounts.note_failure(engine, "192.168.1.9", later, **LIMITS) == 0  # counts from 1
