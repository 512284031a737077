"""The optional C helper for compiling lists (`agent/lists/_scan.c`), when it was built.

Built by `pip install` beside the DNS fast path (`agent/dns/native.py`), under the same
conditions; without it lists are read and keyed in Python, with the same result, more slowly.
`HOUSERULES_PURE_PYTHON=1` switches it off too.
"""

from __future__ import annotations

from types import ModuleType

from agent.dns.native import load

scan: ModuleType | None = load("agent.lists._scan")
