"""The optional compiled fast path (`agent/dns/_fastpath.c`), when it was built.

`pip install` compiles it where a C compiler and Python's headers are present (Debian:
`python3-dev`); without them it is left out and the same work is done in Python, more slowly.
`HOUSERULES_PURE_PYTHON=1` switches it off, to compare the two or to rule it out.
"""

from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("HOUSERULES_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        from agent.dns import _fastpath  # type: ignore[attr-defined]
    except ImportError:
        return None
    return _fastpath


fastpath: ModuleType | None = _load()


def describe() -> str:
    """One line for logs and `houserules doctor`."""
    if fastpath is not None:
        return "compiled fast path in use"
    if os.environ.get("HOUSERULES_PURE_PYTHON", "") not in ("", "0"):
        return "compiled fast path switched off (HOUSERULES_PURE_PYTHON); answering in Python"
    return "compiled fast path not built (no C compiler or Python headers); answering in Python"
