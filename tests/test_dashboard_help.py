"""Help: what to do if something has happened, where to report, and setting up the box."""

from __future__ import annotations

import pytest

from agent.talk import guides


def test_the_first_minutes_and_every_route(auth):
    auth.login()
    page = auth.client.get("/help").get_data(as_text=True)
    for words in (
        "Stay calm",
        "Believe them",
        "not their fault",
        "Keep the evidence",
        'href="tel:999"',
        'href="tel:101"',
        "CEOP",
        "Childline",
        'href="tel:08001111"',
        "Internet Watch Foundation",
        "NSPCC",
    ):
        assert words in page, words
    for topic in guides.topics()[1:]:
        assert f'href="/help/{topic}"' in page
    assert 'href="/help/setup"' in page


@pytest.mark.parametrize("topic", guides.topics())
def test_each_guide_has_its_page_with_steps_routes_and_sources(auth, topic):
    auth.login()
    page = auth.client.get(f"/help/{topic}").get_data(as_text=True)
    guide = guides.guide(topic)
    assert guide.title.replace("'", "&#39;") in page
    assert "Where to get help" in page and "Based on" in page


def test_setting_up_the_box_and_an_unknown_guide(auth):
    auth.login()
    page = auth.client.get("/help/setup").get_data(as_text=True)
    assert "DNS server" in page and "backup" in page and "/kids" in page
    assert auth.client.get("/help/no-such-guide").status_code == 404
