"""Talk: this week's prompts per child with their source letters; marking one as discussed."""

from __future__ import annotations

from datetime import date

from agent.events import Event, EventKind, Severity
from agent.store import household as store
from agent.store import talk
from agent.store.events import record_events

from prompttools import cites_a_letter


def test_prompts_from_this_weeks_events_cite_their_letters(auth, engine, clock):
    auth.login()
    store.add_child(engine, "Sam", date(2015, 3, 1))
    record_events(
        engine,
        [
            Event(
                clock(),
                EventKind.RANDOM_VIDEO_CHAT,
                Severity.ALERT,
                "Sam",
                app="ometv",
                details={"blocked": True},
            )
        ],
    )
    page = auth.client.get("/talk").get_data(as_text=True)
    assert "With Sam" in page
    assert "Why now: Alert: Random video chat (ometv)" in page
    assert "Source:" in page and cites_a_letter(page)
    assert "We talked about this" in page


def test_marking_a_prompt_discussed_keeps_the_note_and_moves_it_aside(auth, engine, clock):
    auth.login()
    sam = store.add_child(engine, "Sam", date(2015, 3, 1))
    page = auth.client.get("/talk").get_data(as_text=True)
    first = page.split('name="prompt_id" value="')[1].split('"')[0]
    form = {"child_id": str(sam.id), "prompt_id": first, "note": "Talked in the car. Went well."}
    response = auth.post("/talk/discussed", form)
    assert response.status_code == 302 and response.location.endswith(f"#child-{sam.id}")
    assert talk.discussed(engine, sam.id, clock().tzinfo) == {first: clock().date()}
    page = auth.client.get("/talk").get_data(as_text=True)
    assert "Talked in the car. Went well." in page  # under "Your recent notes"
    assert f'name="prompt_id" value="{first}"' not in page  # others come first for a while


def test_a_discussed_form_for_something_unknown_is_refused(auth, engine):
    auth.login()
    sam = store.add_child(engine, "Sam", date(2015, 3, 1))
    assert auth.post("/talk/discussed", {"child_id": "99", "prompt_id": "x"}).status_code == 400
    bad = {"child_id": str(sam.id), "prompt_id": "no-such-prompt"}
    assert auth.post("/talk/discussed", bad).status_code == 400
