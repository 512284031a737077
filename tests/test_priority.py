"""Background processes (the jobs process) run as SCHED_IDLE: preempted at once by the DNS."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from agent.ops import priority

pytestmark = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="Linux scheduling")

CHILD = textwrap.dedent(
    """
    import os, threading
    from agent.ops.priority import background

    done = threading.Event()
    before = threading.Thread(target=done.wait)
    before.start()
    said = background(19)
    after = threading.Thread(target=done.wait)
    after.start()
    policies = {os.sched_getscheduler(int(t)) for t in os.listdir("/proc/self/task")}
    done.set()
    print(said, sorted(policies) == [os.SCHED_IDLE], os.getpriority(os.PRIO_PROCESS, 0))
    """
)


def test_every_thread_of_a_background_process_is_sched_idle_before_and_after() -> None:
    """A real process with a thread started before and one after: all three SCHED_IDLE."""
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    nice_before = os.getpriority(os.PRIO_PROCESS, 0)
    assert out == ["SCHED_IDLE", "True", str(nice_before)]  # the nice value is left alone


def test_where_sched_idle_is_refused_the_nice_value_is_raised(monkeypatch) -> None:
    asked: list[int] = []

    def refused(*args: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refused)
    monkeypatch.setattr(os, "nice", asked.append)
    assert priority.background(19) == "nice +19"
    assert asked == [19]
