"""Which box does the household's jobs: one jobs process at a time, chosen through the database.

Two boxes of one household share a database and each runs a jobs process. The jobs that act for
the whole household (digests, alert emails, insights, retention... `agent.ops.jobs` lists them)
must run on one box only, or carers get two emails and the same rows are written twice. The box
doing them holds the lease row `household` in `job_lease` (`agent.store.lease`) and renews it
every `[jobs] lease_renew_seconds` from a thread of its own, so a busy scheduler never delays
a renewal. The other box asks as often; once the lease has run out (`[jobs] lease_seconds`
after the last renewal: the holder died, hung or lost the database), it takes it, and the
household's jobs carry on there, at once for the frequent ones.

The holder counts its own time from before it asked: its lease ends, by its own reckoning, no
later than it does in the database, so it stops starting household jobs before the other box can
take them. A job already under way when a lease is lost finishes; what it sends is claimed in the
database first (`agent.store.digest`), so a handover in the middle cannot send anything twice.
A box stopping cleanly gives the lease up, and the other takes over at its next renewal.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import threading
import time
from collections.abc import Callable

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from agent.config import JobsConfig
from agent.store import lease as store
from agent.store.sqlite import StoreError

log = logging.getLogger("houserules.jobs")
Clock = Callable[[], float]  # unix seconds


class HouseholdLease:
    """This process's claim on the household's jobs. `clock` (tests): the time both for the
    row and for the process's own reckoning; by default the database's time for the row and
    the monotonic clock for its own deadline."""

    def __init__(
        self,
        engine: Engine,
        cfg: JobsConfig,
        *,
        clock: Clock | None = None,
        name: str = store.HOUSEHOLD,
    ) -> None:
        self.engine, self.name = engine, name
        self.box = cfg.box
        # the pid tells people which process; the random part keeps two boxes left with the
        # same host name (raspberrypi) and, after a boot, the same pid apart
        self.holder = f"{self.box}:{os.getpid()}:{secrets.token_hex(4)}"
        self.seconds, self.every = cfg.lease_seconds, cfg.lease_renew_seconds
        self._clock = clock
        self._deadline = -math.inf  # by this process's own clock
        self._was_holding = False
        self._failing = False
        self._gained: list[Callable[[], object]] = []
        self._lost: list[Callable[[], object]] = []
        self._renewing = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- asking --------------------------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """True while this process may start household jobs."""
        return self._local() < self._deadline

    def renew(self) -> bool:
        """Take or keep the lease if it is free or ours; whether this process holds it now.
        When the database cannot be reached, the lease is kept until its time is up."""
        with self._renewing:
            started = self._local()
            try:
                held = store.hold(
                    self.engine, self.name, self.holder, self.box, self.seconds, now=self._row_now()
                )
            except (SQLAlchemyError, StoreError, OSError) as exc:
                if not self._failing:
                    log.warning("the household's jobs lease could not be renewed: %s", exc)
                self._failing = True
            else:
                self._failing = False
                self._deadline = started + self.seconds if held is not None else -math.inf
            return self._note_change()

    def when_gained(self, fn: Callable[[], object]) -> None:
        self._gained.append(fn)

    def when_lost(self, fn: Callable[[], object]) -> None:
        self._lost.append(fn)

    def only_while_holding(self, name: str, fn: Callable[[], object]) -> Callable[[], object]:
        """`fn`, run only while this process holds the lease, and never twice at once (the
        periodic run and the one at a takeover share this guard)."""
        running = threading.Lock()

        def run() -> object:
            if not self.holding or not running.acquire(blocking=False):
                return None
            try:
                return fn()
            finally:
                running.release()

        run.__name__ = f"household: {name}"
        return run

    # -- the renewing thread -------------------------------------------------------------------

    def start(self) -> None:
        """Ask once now (so the first box up starts its jobs at once), then keep renewing."""
        if not self.renew() and not self._failing:
            log.info("another box does the household's jobs; this box (%s) stands by", self.box)
        self._thread = threading.Thread(target=self._keep, name="household lease", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop renewing and give the lease up, so the other box takes over at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.every + 5)
        with self._renewing:
            self._deadline = -math.inf
            try:
                if store.release(self.engine, self.name, self.holder, now=self._row_now()):
                    log.info("the household's jobs are handed over to the other box, if any")
            except (SQLAlchemyError, StoreError, OSError) as exc:
                log.warning("the household's jobs lease could not be given up: %s", exc)

    def _keep(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.renew()
            except Exception as exc:  # the thread must not die: the jobs hang on it
                log.error("household lease: %s", exc)

    # -- parts ---------------------------------------------------------------------------------

    def _note_change(self) -> bool:
        holding = self.holding
        if holding != self._was_holding:
            self._was_holding = holding
            if holding:
                log.info("this box (%s) does the household's jobs now", self.box)
            else:
                log.info("another box does the household's jobs now; this one stands by")
            for fn in self._gained if holding else self._lost:
                try:
                    fn()
                except Exception as exc:
                    log.error("household lease change: %s", exc)
        return holding

    def _local(self) -> float:
        return self._clock() if self._clock is not None else time.monotonic()

    def _row_now(self) -> float | None:
        return self._clock() if self._clock is not None else None
