"""The jobs process's one scheduler: every piece of background work there is an APScheduler job.

    scheduler = Scheduler(tz)
    scheduler.every("insights", run_insights, 30.0)     # periodic
    scheduler.run_soon("lists update", update_lists)     # once, now; False if one is running
    scheduler.start() ... scheduler.shutdown()

A job that fails is logged and runs again at its next time; it never stops the others. A job
never runs twice at once (`max_instances=1`), and runs that were missed while the box was busy
collapse into one (`coalesce`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import tzinfo

from apscheduler.schedulers.background import BackgroundScheduler

from agent.dns import native

log = logging.getLogger("houserules.jobs")


class Scheduler:
    def __init__(self, tz: tzinfo) -> None:
        self._aps = BackgroundScheduler(timezone=tz)
        self._once: set[str] = set()  # one-off jobs queued or running, by name
        self._lock = threading.Lock()
        self._closed = False  # shut down: one-off jobs asked for now (a lease gained as the
        # process stops) are not run, and do not start the scheduler again
        self.names: list[str] = []

    def every(self, name: str, fn: Callable[[], object], seconds: float) -> None:
        self._aps.add_job(
            guarded(name, fn),
            "interval",
            seconds=max(seconds, 1.0),
            id=name,
            name=name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,  # a run that starts late still runs
        )
        self.names.append(name)

    def run_soon(self, name: str, fn: Callable[[], object]) -> bool:
        """Run `fn` once, as soon as a worker is free; False if a run of `name` is already
        queued or running (a parent pressing the button twice starts one update)."""
        with self._lock:
            if name in self._once or self._closed:
                return False
            self._once.add(name)

        def once() -> None:
            try:
                guarded(name, fn)()
            finally:
                with self._lock:
                    self._once.discard(name)

        self._aps.add_job(once, id=f"{name} (once)", name=name, misfire_grace_time=None)
        if not self._aps.running:
            self.start()
        return True

    def start(self) -> None:
        if not self._aps.running:
            self._aps.start()

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            self._closed = True
        if self._aps.running:
            self._aps.shutdown(wait=wait)


def guarded(name: str, fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        started = time.monotonic()
        try:
            fn()
        except Exception as exc:  # one failing job must not stop the others
            log.error("%s failed: %s", name, exc)
        else:
            log.debug("%s done in %.2fs", name, time.monotonic() - started)
        finally:  # what the run's rows and sessions took goes back to the system, not kept for
            native.trim_heap()  # the next run: 0.1-0.3 ms a call, every few seconds at most

    return run
