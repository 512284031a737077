"""The letters record that prompts and help guides cite."""

from __future__ import annotations

import re

from agent.talk.letters import load_letters

LETTERS = load_letters()


def test_letters_record_holds_the_five_letters() -> None:
    assert len(LETTERS) == 5
    for name, letter in LETTERS.items():
        assert re.fullmatch(r"\d{3}_[0-9a-f]{16}\.txt", name)
        assert letter.sender and letter.subject and letter.summary
