"""API tokens in the store: kept as a hash, named once, checked, touched at most once a minute,
revoked for good."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agent.store import api_tokens

WEDNESDAY_6PM = datetime(2026, 11, 18, 18, 0, tzinfo=ZoneInfo("Europe/London"))


def test_a_token_is_checked_by_its_hash_and_revoked_for_good(engine):
    made, token = api_tokens.create_token(engine, "Grafana", "read", WEDNESDAY_6PM)
    assert made.name == "Grafana" and not made.can_write
    found = api_tokens.check_token(engine, token, WEDNESDAY_6PM)
    assert found is not None and found.id == made.id
    assert api_tokens.check_token(engine, token[:-1] + "x", WEDNESDAY_6PM) is None
    assert api_tokens.check_token(engine, api_tokens.digest(token), WEDNESDAY_6PM) is None
    assert api_tokens.check_token(engine, "", WEDNESDAY_6PM) is None
    assert api_tokens.revoke_token(engine, made.id) is True
    assert api_tokens.check_token(engine, token, WEDNESDAY_6PM) is None
    assert api_tokens.revoke_token(engine, made.id) is False


def test_last_use_is_written_at_most_once_a_minute(engine):
    made, token = api_tokens.create_token(engine, "Phone", "write", WEDNESDAY_6PM)
    api_tokens.check_token(engine, token, WEDNESDAY_6PM)
    api_tokens.check_token(engine, token, WEDNESDAY_6PM + timedelta(seconds=30))
    [row] = api_tokens.list_tokens(engine)
    assert row.last_used_at == WEDNESDAY_6PM
    api_tokens.check_token(engine, token, WEDNESDAY_6PM + timedelta(seconds=61))
    [row] = api_tokens.list_tokens(engine)
    assert row.last_used_at == WEDNESDAY_6PM + timedelta(seconds=61)


@pytest.mark.parametrize(
    ("name", "scope", "said"),
    [
        ("", "read", "1 to 40 characters"),
        ("x" * 41, "read", "1 to 40 characters"),
        ("Grafana", "admin", "read-only or read-write"),
        ("grafana ", "read", "already a token called grafana"),
    ],
)
def test_mistakes_are_named(engine, name, scope, said):
    api_tokens.create_token(engine, "Grafana", "read", WEDNESDAY_6PM)
    with pytest.raises(api_tokens.TokenError, match=said):
        api_tokens.create_token(engine, name, scope, WEDNESDAY_6PM)
