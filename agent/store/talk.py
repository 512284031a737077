"""Conversations a parent has marked as had: which prompt, with which child, and a private note.

The dashboard's Talk page writes here; `discussed` feeds `agent.talk.suggest.suggest`, so a prompt
talked about in the last four weeks makes way for others. Notes stay on the box and are shown
only to logged-in parents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

MAX_NOTE = 1000


class TalkNoteRow(SQLModel, table=True):
    __tablename__ = "talk_notes"
    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(index=True)
    prompt_id: str
    time: float  # unix seconds
    note: str = ""


@dataclass(frozen=True)
class TalkNote:
    id: int
    child_id: int
    prompt_id: str
    time: datetime  # UTC
    note: str


def mark_discussed(
    engine: Engine, child_id: int, prompt_id: str, when: datetime, note: str = ""
) -> TalkNote:
    if when.tzinfo is None:
        raise ValueError("times must carry a timezone")
    note = note.strip()[:MAX_NOTE]
    with engine.begin() as conn:
        new_id = conn.execute(
            text(
                "INSERT INTO talk_notes (child_id, prompt_id, time, note) "
                "VALUES (:c, :p, :t, :n) RETURNING id"
            ),
            {"c": child_id, "p": prompt_id, "t": when.timestamp(), "n": note},
        ).scalar_one()
    return TalkNote(new_id, child_id, prompt_id, when.astimezone(UTC), note)


def discussed(engine: Engine, child_id: int, tz: tzinfo) -> dict[str, date]:
    """Prompt id -> the local date it was last talked about with this child."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT prompt_id, max(time) AS latest FROM talk_notes WHERE child_id = :c "
                "GROUP BY prompt_id"
            ),
            {"c": child_id},
        ).all()
    return {r.prompt_id: datetime.fromtimestamp(r.latest, tz).date() for r in rows}


def list_notes(engine: Engine, child_id: int | None = None, limit: int = 20) -> list[TalkNote]:
    """Newest first."""
    sql, params = "SELECT * FROM talk_notes", {"limit": limit}
    if child_id is not None:
        sql += " WHERE child_id = :c"
        params["c"] = child_id
    with engine.connect() as conn:
        rows = conn.execute(text(sql + " ORDER BY time DESC, id DESC LIMIT :limit"), params).all()
    return [_note(r) for r in rows]


def _note(r: Any) -> TalkNote:
    return TalkNote(r.id, r.child_id, r.prompt_id, datetime.fromtimestamp(r.time, UTC), r.note)
