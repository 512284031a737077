"""The optional C helper for compiling lists (`agent/lists/_scan.c`), when it was built.

Built by `pip install` beside the DNS fast path (`agent/dns/native.py`), under the same
conditions; without it lists are read and keyed in Python, with the same result, more slowly.
`HOUSERULES_PURE_PYTHON=1` switches it off too.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("HOUSERULES_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from agent.lists import _scan  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _scan


scan: ModuleType | None = _load()
