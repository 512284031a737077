"""Small prompt files for tests: one valid prompt, changed as a test needs, written as TOML."""

from __future__ import annotations

import json
from pathlib import Path

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
