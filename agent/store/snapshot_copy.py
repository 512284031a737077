"""The last household read, kept on this box's disk for when the database is away.

Each time the DNS process reads the household it writes the rows it read here (JSON, one file,
0600, written beside and renamed over, so a reader never sees half of it). If the database
cannot be read when the process starts (PostgreSQL on the other box stopped, the network gone),
the household comes from this copy: the children keep their house rules rather than falling to
the strictest defaults, and nothing fails open. It holds the rows, not the `Household`, so the
copy goes through the same converters as a read from the database, and no column is named here
either: a value that JSON cannot hold (a date, a time, a moment) is written as a one-key object
naming its type.

The copy names the database it came from; a copy from another database is not used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agent.private import FILE_MODE, private_folder
from agent.store.snapshot import Rows

FORMAT = 1
# Types JSON cannot hold, each as {"<name>": "<ISO text>"}; datetime before date (a subclass).
TYPED: tuple[tuple[str, type, Callable[[str], Any]], ...] = (
    ("datetime", datetime, datetime.fromisoformat),
    ("date", date, date.fromisoformat),
    ("time", time, time.fromisoformat),
)
PARSERS = {name: parse for name, _, parse in TYPED}


class CopyUnusable(Exception):
    """The copy is missing, damaged or from another database."""


def save_copy(path: Path, source: str, rows: Rows, saved_at: float) -> None:
    """Write the rows as the copy for `source` (atomically, readable by HouseRules alone)."""
    data = {
        "format": FORMAT,
        "source": source,
        "saved_at": saved_at,
        "version": rows.version,
        "tables": {name: [_encode(vars(r)) for r in rs] for name, rs in rows.tables.items()},
    }
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    private_folder(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def load_copy(path: Path, source: str) -> tuple[Rows, float]:
    """The rows kept for `source` and when they were saved (seconds since the epoch)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CopyUnusable(f"there is no copy at {path}") from None
    except (OSError, ValueError) as exc:
        raise CopyUnusable(f"the copy at {path} cannot be read ({exc})") from exc
    try:
        if data["format"] != FORMAT:
            raise CopyUnusable(f"the copy at {path} is in another format ({data['format']})")
        if data["source"] != source:
            raise CopyUnusable(f"the copy at {path} is of another database ({data['source']})")
        tables = {
            str(name): [SimpleNamespace(**_decode(r)) for r in rs]
            for name, rs in data["tables"].items()
        }
        return Rows(int(data["version"]), tables), float(data["saved_at"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CopyUnusable(f"the copy at {path} is damaged ({exc!r})") from exc


def _encode(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        for kind, cls, _ in TYPED:
            if isinstance(value, cls):
                value = {kind: value.isoformat()}
                break
        out[name] = value
    return out


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name, value in row.items():
        if isinstance(value, dict):
            ((kind, text),) = value.items()
            value = PARSERS[kind](text)
        out[str(name)] = value
    return out
