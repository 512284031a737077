"""The letters record: who wrote to parents, when, and what about.

Prompts and help guides both cite letters recorded in `agent/talk/letters.toml`; this module reads
that record and the TOML content files, and names the file, entry and field of any mistake.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

CONTENT_DIR = Path(__file__).resolve().parent
LETTERS_PATH = CONTENT_DIR / "letters.toml"


class ContentError(Exception):
    """A mistake in a content file; the message names the file, the entry and the field."""


@dataclass(frozen=True)
class Letter:
    file: str
    sender: str
    subject: str
    summary: str
    date: str | None = None

    @property
    def citation(self) -> str:
        """How a parent sees the letter named, as a person would: who sent it and when
        ("Rackham school, Cambridgeshire, June 2020"); never a file name."""
        if not self.date:
            return self.sender
        when = date.fromisoformat(self.date)
        return f"{self.sender}, {when:%B %Y}"


def load_letters(path: str | Path | None = None) -> dict[str, Letter]:
    """The letters record (shared by prompts and help guides), keyed by file name."""
    path = Path(path) if path is not None else LETTERS_PATH
    raw = read_toml(path)
    letters: dict[str, Letter] = {}
    for i, item in enumerate(raw.get("letters", [])):
        fields = {k: item.get(k) for k in ("file", "from", "subject", "summary")}
        missing = [k for k, v in fields.items() if not isinstance(v, str) or not v]
        if missing:
            raise ContentError(f"{path}: letters[{i}]: {missing[0]}: is required")
        letters[item["file"]] = Letter(
            item["file"], item["from"], item["subject"], item["summary"], item.get("date")
        )
    return letters


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{path}: not valid TOML: {exc}") from None
