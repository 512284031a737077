"""Database URLs: libpq-style PostgreSQL URLs become psycopg 3 ones, in one place."""

from __future__ import annotations

import pytest

from agent.store import db


@pytest.mark.parametrize(
    ("url", "for_sqlalchemy", "postgres"),
    [
        ("postgresql://hr@127.0.0.1:5432/house", "postgresql+psycopg://hr@127.0.0.1:5432/house", 1),
        ("postgres://hr@db/house", "postgresql+psycopg://hr@db/house", 1),
        ("postgresql+psycopg://hr@db/house", "postgresql+psycopg://hr@db/house", 1),
        ("POSTGRESQL://hr@db/house", "postgresql+psycopg://hr@db/house", 1),
        ("sqlite:///data/houserules.db", "sqlite:///data/houserules.db", 0),
        ("sqlite://", "sqlite://", 0),
        ("mysql://hr@db/house", "mysql://hr@db/house", 0),
    ],
)
def test_sqlalchemy_url_names_psycopg_for_postgresql_only(
    url: str, for_sqlalchemy: str, postgres: int
) -> None:
    assert db.sqlalchemy_url(url) == for_sqlalchemy
    assert db.is_postgres(url) is bool(postgres)


def test_libpq_url_drops_the_driver_name_and_refuses_other_engines() -> None:
    assert (
        db.libpq_url("postgresql+psycopg://hr:pw@db:5433/house")
        == "postgresql://hr:pw@db:5433/house"
    )
    assert db.libpq_url("postgres://hr@db/house") == "postgresql://hr@db/house"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        db.libpq_url("sqlite:///data/houserules.db")
