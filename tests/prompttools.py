"""Small prompt files for tests: one valid prompt, changed as a test needs, written as TOML;
and a small app catalogue and event maker for choosing prompts."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from agent.events import Event, EventKind, Severity

L004 = "004_4cd3c2d600256b4c.txt"


def valid_prompt(**changes) -> dict:
    prompt = {
        "id": "test-prompt",
        "triggers": ["late_night"],
        "ages": [8, 12],
        "topic": "sleep",
        "opener": "How are you sleeping?",
        "follow_ups": ["What keeps you up?", "What time is fair?"],
        "listen_for": "Worries.",
        "step": "Agree a screens-off time.",
        "sources": [L004],
    }
    prompt.update(changes)
    return {k: v for k, v in prompt.items() if v is not None}


def write_prompts(tmp_path: Path, *prompts: dict) -> Path:
    """Write prompts as TOML (JSON strings and arrays are valid TOML values)."""
    lines = []
    for prompt in prompts:
        lines.append("[[prompts]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in prompt.items()]
    path = tmp_path / "prompts.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


CATALOGUE = {
    "discord": ("messaging", ["chat_with_strangers"]),
    "zoom": ("video-chat", ["video_chat"]),
    "ometv": ("random-video-chat", ["chat_with_strangers", "video_chat", "anonymous"]),
    "minecraft": ("gaming", ["chat_with_strangers"]),
}


def lookup(app_id: str) -> tuple[str, list[str]] | None:
    return CATALOGUE.get(app_id)


def ev(kind: EventKind, severity: Severity, when: str, app: str | None = None, **details) -> Event:
    return Event(datetime.fromisoformat(when), kind, severity, "Sam", "sam-phone", app, details)


def cites_a_letter(text: str) -> bool:
    """`text` names one of the letters as a parent reads it (who and when) and no file name."""
    from agent.talk.letters import load_letters

    flat = " ".join(text.split()).replace("&#39;", "'")
    named = any(letter.citation in flat for letter in load_letters().values())
    return named and ".txt" not in flat
