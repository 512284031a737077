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


SLICE_CHILD = textwrap.dedent(
    """
    import os
    from agent.dns import native

    os.nice(5)
    granted = native.answers_first()
    with open("/proc/thread-self/sched") as f:
        slice_ns = next(int(line.split(":")[1]) for line in f if line.startswith("se.slice "))
    print(granted, slice_ns, os.nice(0), os.sched_getscheduler(0) == os.SCHED_OTHER)
    """
)


def kernel_keeps_slices() -> bool:
    """EEVDF's per-task slice request came with Linux 6.12."""
    major, minor = (int(part) for part in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 12)


def test_the_dns_thread_asks_for_a_short_slice_and_keeps_its_nice_value() -> None:
    from agent.dns import native

    if native.fastpath is None:
        pytest.skip("the compiled fast path is not built here")
    out = subprocess.run(
        [sys.executable, "-c", SLICE_CHILD], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    granted, slice_ns, nice, other = int(out[0]), int(out[1]), int(out[2]), out[3]
    if kernel_keeps_slices():
        assert granted == slice_ns == native.DNS_SLICE_NS
    else:
        assert granted == 0
    assert nice == os.getpriority(os.PRIO_PROCESS, 0) + 5 and other == "True"
