"""Conversations marked as had, with private notes, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from agent.store import talk
from agent.store.db import init_db, make_engine

TZ = ZoneInfo("Europe/London")
T0 = datetime(2026, 11, 18, 23, 30, tzinfo=UTC)


@pytest.fixture
def engine(store_url: str) -> Engine:
    eng = make_engine(store_url)
    init_db(eng)
    return eng


def test_discussed_gives_the_latest_local_date_per_prompt(engine: Engine) -> None:
    talk.mark_discussed(engine, 1, "ask-about-games", T0 - timedelta(days=10))
    talk.mark_discussed(engine, 1, "ask-about-games", T0, "went well")
    talk.mark_discussed(engine, 2, "photos-cant-be-unsent", T0)
    assert talk.discussed(engine, 1, TZ) == {"ask-about-games": date(2026, 11, 18)}
    assert talk.discussed(engine, 1, ZoneInfo("Asia/Tokyo")) == {
        "ask-about-games": date(2026, 11, 19)
    }


def test_notes_newest_first_and_trimmed(engine: Engine) -> None:
    talk.mark_discussed(engine, 1, "a", T0, "  first  ")
    talk.mark_discussed(engine, 1, "b", T0 + timedelta(hours=1), "x" * 5000)
    notes = talk.list_notes(engine, 1)
    assert [n.prompt_id for n in notes] == ["b", "a"]
    assert notes[1].note == "first" and len(notes[0].note) == talk.MAX_NOTE
    assert talk.list_notes(engine, 2) == []


def test_times_must_carry_a_timezone(engine: Engine) -> None:
    with pytest.raises(ValueError, match="timezone"):
        talk.mark_discussed(engine, 1, "a", datetime(2026, 11, 18))
