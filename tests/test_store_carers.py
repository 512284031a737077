"""Carers on a real SQLite file: added, changed, listed and removed, with one-line mistakes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from agent.store import carers
from agent.store.carers import CarerError
from agent.store.db import init_db, make_engine
from agent.store.household import add_child

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Engine:
    eng = make_engine(store_url)
    init_db(eng)
    add_child(eng, "Sam", date(2014, 3, 1))
    add_child(eng, "Alex", date(2016, 6, 1))
    return eng


def test_add_and_read_back(engine: Engine) -> None:
    nana = carers.add_carer(
        engine, " Nana ", "nana@example.org", ["alex", "Sam"], alerts=True, now=NOW
    )
    assert nana.name == "Nana" and nana.children == ("Sam", "Alex")  # eldest first
    assert nana.alerts and nana.digest_day == 6 and nana.digest_time == time(18, 0)
    assert nana.digest_when == "Sundays at 18:00" and nana.created_at == NOW
    dad = carers.add_carer(
        engine, "Dad", "dad@example.org", ["Sam"], digest_day=0, digest_time=time(8), now=NOW
    )
    assert carers.list_carers(engine) == (nana, dad)
    assert carers.get_carer_by_name(engine, "NANA") == nana
    assert carers.get_carer(engine, dad.id) == dad and carers.get_carer(engine, 99) is None


@pytest.mark.parametrize(
    ("name", "email", "children", "words"),
    [
        ("Nana", "nana.example.org", ["Sam"], "does not look like an email address"),
        ("Nana", "nana@example", ["Sam"], "does not look like an email address"),
        ("Nana", "a@b.org, c@d.org", ["Sam"], "does not look like an email address"),
        ("Nana", "nana@example.org", [], "at least one child"),
        ("Nana", "nana@example.org", ["Bob"], "no child called 'Bob'"),
        ("", "nana@example.org", ["Sam"], "1 to 40 characters"),
    ],
)
def test_mistakes_are_one_line(
    engine: Engine, name: str, email: str, children: list[str], words: str
) -> None:
    with pytest.raises(CarerError, match=words):
        carers.add_carer(engine, name, email, children, now=NOW)
    assert carers.list_carers(engine) == ()


def test_names_are_unique_ignoring_case(engine: Engine) -> None:
    carers.add_carer(engine, "Nana", "nana@example.org", ["Sam"], now=NOW)
    with pytest.raises(CarerError, match="already a carer called nana"):
        carers.add_carer(engine, "nana", "other@example.org", ["Sam"], now=NOW)


def test_update_changes_only_what_is_given(engine: Engine) -> None:
    nana = carers.add_carer(engine, "Nana", "nana@example.org", ["Sam"], now=NOW)
    changed = carers.update_carer(engine, nana.id, children=["Sam", "Alex"], alerts=True)
    assert changed.children == ("Sam", "Alex") and changed.alerts
    assert changed.email == nana.email and changed.digest_time == nana.digest_time
    with pytest.raises(CarerError, match="no child called"):
        carers.update_carer(engine, nana.id, children=["Bob"])
    assert carers.get_carer(engine, nana.id) == changed  # nothing half-done


def test_a_refused_address_is_kept_until_a_new_one(engine: Engine) -> None:
    nana = carers.add_carer(engine, "Nana", "nana@example.org", ["Sam"], now=NOW)
    carers.mark_address_refused(engine, nana.id, "550 no such user", NOW)
    refused = carers.get_carer(engine, nana.id)
    assert refused is not None and refused.address_problem == "550 no such user"
    assert refused.address_problem_at == NOW
    assert carers.update_carer(engine, nana.id, alerts=True).address_problem is not None
    fixed = carers.update_carer(engine, nana.id, email="nana@example.com")
    assert fixed.address_problem is None and fixed.email == "nana@example.com"


def test_remove_takes_the_links_with_it(engine: Engine) -> None:
    nana = carers.add_carer(engine, "Nana", "nana@example.org", ["Sam", "Alex"], now=NOW)
    carers.remove_carer(engine, nana.id)
    assert carers.list_carers(engine) == ()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM carer_children")).scalar_one() == 0
    with pytest.raises(CarerError, match="no carer number"):
        carers.remove_carer(engine, nana.id)


@pytest.mark.parametrize(("words", "day"), [("sun", 6), ("Monday", 0), ("WED", 2), ("4", 4)])
def test_days(words: str, day: int) -> None:
    assert carers.parse_day(words) == day


@pytest.mark.parametrize("words", ["su", "funday", "7", ""])
def test_bad_days(words: str) -> None:
    with pytest.raises(CarerError, match="not a day of the week"):
        carers.parse_day(words)


@pytest.mark.parametrize("words", ["18", "24:00", "18:5", "six"])
def test_bad_times(words: str) -> None:
    with pytest.raises(CarerError, match="not a time like 18:00"):
        carers.parse_time(words)
