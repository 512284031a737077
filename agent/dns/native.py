"""The optional compiled fast path (`agent/dns/_fastpath.c`), when it was built.

`pip install` compiles it where a C compiler and Python's headers are present (Debian:
`python3-dev`); without them it is left out and the same work is done in Python, more slowly.
`HOUSERULES_PURE_PYTHON=1` switches it off, to compare the two or to rule it out.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def load(name: str) -> ModuleType | None:
    """The compiled module `name` (agent.dns._fastpath, agent.lists._scan), or None when it was
    not built or HOUSERULES_PURE_PYTHON asks for Python alone."""
    if os.environ.get("HOUSERULES_PURE_PYTHON", "") not in ("", "0"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


fastpath: ModuleType | None = load("agent.dns._fastpath")


def describe() -> str:
    """One line for logs and `houserules doctor`."""
    if fastpath is not None:
        return "compiled fast path in use"
    if os.environ.get("HOUSERULES_PURE_PYTHON", "") not in ("", "0"):
        return "compiled fast path switched off (HOUSERULES_PURE_PYTHON); answering in Python"
    return "compiled fast path not built (no C compiler or Python headers); answering in Python"


# Seconds between two `trim_heap` calls in the DNS process (its ticker; the first at start).
# At start it gives back ~0.8 MB (what loading the index and the household left free in
# malloc's heap), under a flood ~0.4 MB more than trimming every 10 s would, in 0.1-0.3 ms
# with malloc's lock held (other threads' allocations wait that long, once every 2 s).
TRIM_SECONDS = 2.0


def trim_heap() -> bool:
    """Give the pages glibc's malloc holds free back to the system (the fast path's
    `trim_heap`, malloc_trim(0)): what the index's and the household's loading left behind,
    and what a flood's buffers left. False when nothing was given back or it cannot be done."""
    trim = getattr(fastpath, "trim_heap", None)
    return bool(trim()) if trim is not None else False


# The scheduler slice the DNS thread asks for (`answers_first`). Measured at 2,000 queries a
# second right after a flood, the server and its children on one CPU: p99 0.19-0.21 ms in
# four runs with it, 0.21-0.47 ms without (the log writer's 1.4 ms slices went first).
DNS_SLICE_NS = 100_000


def answers_first() -> int:
    """Ask the scheduler to let the calling thread (the DNS process's event loop) preempt a
    busy background thread as soon as a packet wakes it, rather than after that thread's slice
    (Linux 6.12 and newer: EEVDF's slice request, `sched_setattr`). The slice granted in
    nanoseconds, 0 where there is none to ask for. Its share of the CPU is unchanged."""
    ask = getattr(fastpath, "short_slice", None)
    return int(ask(DNS_SLICE_NS)) if ask is not None else 0
