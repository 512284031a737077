"""Background processes give the CPU up the moment the DNS process wants it.

The query-log writer and the jobs process share the box's cores with the DNS process. A lower
nice value only shares the CPU out by weight: Linux's scheduler (EEVDF, since 6.6) lets a
running task finish its slice before a task that wakes may run, so a DNS answer could wait
behind 2-4 ms of insights work (measured with `perf sched` at 2,000 queries a second, the
server and its children on one CPU). A task of the SCHED_IDLE policy is preempted at once by
any ordinary task that wakes, and still gets a small share of a busy CPU, so it never starves.
"""

from __future__ import annotations

import contextlib
import logging
import os

log = logging.getLogger(__name__)


def _threads() -> list[int]:
    """This process's thread ids (the policy is per thread; new threads inherit it)."""
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        return [0]  # 0: the calling thread


def background(nice: int) -> str:
    """Make this process background work: SCHED_IDLE for every thread it has (and so every
    thread it starts), or, where that is not to be had, `nice` added to its nice value. Says
    which, for the log."""
    idle = getattr(os, "SCHED_IDLE", None)
    if idle is not None:
        try:
            for tid in _threads():
                with contextlib.suppress(ProcessLookupError):  # a thread that has ended
                    os.sched_setscheduler(tid, idle, os.sched_param(0))
            return "SCHED_IDLE"
        except OSError as exc:  # a container that forbids it, say
            log.info("cannot run as SCHED_IDLE (%s); lowering the nice value instead", exc)
    with contextlib.suppress(OSError):
        os.nice(nice)
    return f"nice +{nice}"
