"""Waiting for something a test started (a process, a server, a background writer): poll with a
deadline, and when it passes, say what was awaited and what the process said.

The deadlines are for a loaded 2-core machine (a whole suite beside other work): generous,
because a slow start is not what these tests are about; a start that never comes fails all the
same, with its reason. `HOUSERULES_TEST_START_SECONDS` changes them for a slower machine.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

START_SECONDS = float(os.environ.get("HOUSERULES_TEST_START_SECONDS", "90"))
POLL_SECONDS = 0.05


def wait_for(
    check: Callable[[], object],
    what: str,
    *,
    seconds: float = START_SECONDS,
    proc: subprocess.Popen | None = None,
    output: Callable[[], str] | None = None,
) -> float:
    """Poll `check` until it is true; return the seconds it took. Fails, naming `what`, when
    `seconds` pass or when `proc` (the process that should make it true) exits first; the
    failure carries the process's output, from `output` when given."""
    start = time.monotonic()
    while not check():
        waited = time.monotonic() - start
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"waiting for {what}: the process exited ({proc.returncode}) after {waited:.1f}s"
                + _said(output)
            )
        if waited > seconds:
            raise AssertionError(
                f"waiting for {what}: not there after {seconds:g}s" + _said(output)
            )
        time.sleep(POLL_SECONDS)
    return time.monotonic() - start


def tail(path: Path, lines: int = 40) -> Callable[[], str]:
    """What a process wrote to `path`, its last lines, for a failure message."""

    def read() -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as exc:
            return f"({path} cannot be read: {exc})"

    return read


def _said(output: Callable[[], str] | None) -> str:
    if output is None:
        return ""
    text = output().strip()
    return f"; it said:\n{text}" if text else "; it said nothing"
