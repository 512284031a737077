"""A `Policy` kept fresh in a process that is not the DNS agent (the proxy).

It reads what the DNS agent reads, the same way, so both decide with the same house rules:

- the household, when its version moves (polled every `[rules] household_poll_seconds`), read
  whole with plain sqlite3 (`agent.store.snapshot`, as the DNS process reads it) and swapped in;
- the neighbour table (which MAC address has which IP), every `neighbour_refresh_seconds`;
- the compiled lists, mapped again when the DNS agent (or `houserules lists update`) saves a
  new index; this process never compiles while one is saved.

All of it on one background thread; readers take `keeper.current`, one attribute load. If the
database cannot be read the last household stays in force; with none at all, no device is
marked "inspect", so the proxy passes everything through untouched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.config import Config
from agent.dns import neighbours
from agent.lists import job as lists_job
from agent.lists.index import IndexLoadError, ListIndex
from agent.rules.catalog import Catalog, load_catalog
from agent.rules.policy import Policy, PolicyHolder
from agent.rules.safesearch import SafeSearch, load_safesearch
from agent.store import snapshot
from agent.store.household_follower import HouseholdFollower, household_source
from agent.store.urls import shown

log = logging.getLogger(__name__)
INDEX_CHECK_SECONDS = 5.0


class PolicyKeeper:
    def __init__(
        self,
        cfg: Config,
        *,
        catalog: Catalog | None = None,
        safesearch: SafeSearch | None = None,
        index: ListIndex | None = None,
        read_version: Callable[[Path], int] | None = None,  # None: the store's own readers
        read_rows: Callable[[Path], snapshot.Rows] | None = None,
        read_neighbours: Callable[[], Mapping[str, str]] = neighbours.read_neighbours,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.catalog = catalog or load_catalog()
        if index is None:
            index, _ = lists_job.initial_index(cfg, self.catalog)
        self.holder = PolicyHolder(
            Policy(
                index=index,
                catalog=self.catalog,
                safesearch=safesearch or load_safesearch(),
                rules=cfg.rules,
            )
        )
        self.household = HouseholdFollower(
            household_source(cfg),
            shown(cfg.store.url),
            "keeping the last ones read",
            read_version,
            read_rows,
        )
        self._read_neighbours, self._clock = read_neighbours, clock
        self._index_dir = cfg.resolve(cfg.blocklists.compiled_dir)
        self._index_mark = _mark(self._index_dir)
        self._next = {"neighbours": 0.0, "index": 0.0}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def current(self) -> Policy:
        return self.holder.current

    # -- one refresh each -------------------------------------------------------------------

    def refresh_household(self) -> bool:
        """Swap in the household if a parent changed it; True when it did."""
        return self.household.refresh(self.holder)

    def refresh_neighbours(self) -> bool:
        table = dict(self._read_neighbours())
        if table == self.holder.current.neighbours:
            return False
        self.holder.update(neighbours=table)
        return True

    def refresh_index(self) -> bool:
        """Map a newly saved index; True when one was swapped in."""
        mark = _mark(self._index_dir)
        if mark is None or mark == self._index_mark:
            return False
        try:
            index = ListIndex.load(self._index_dir)
        except IndexLoadError as exc:  # half written: try again at the next check
            log.info("%s", exc)
            return False
        self._index_mark = mark
        self.holder.update(index=index)
        log.info("lists updated: %d names", len(index))
        return True

    def tick(self) -> None:
        """One round: the household always, the others when they are due."""
        self.refresh_household()
        now = self._clock()
        if now >= self._next["neighbours"]:
            self._next["neighbours"] = now + self.cfg.rules.neighbour_refresh_seconds
            self.refresh_neighbours()
        if now >= self._next["index"]:
            self._next["index"] = now + INDEX_CHECK_SECONDS
            self.refresh_index()

    # -- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """A first round now (so the first connection meets the household), then the thread."""
        if self._thread is None:
            self.tick()
            self._thread = threading.Thread(target=self._run, name="policy-keeper", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        interval = max(self.cfg.rules.household_poll_seconds, 0.1)
        while not self._stop.wait(interval):
            try:
                self.tick()
            except Exception as exc:  # a failing refresh must never stop the keeping
                log.error("keeping the house rules fresh failed: %s", exc)


def _mark(directory: Path) -> tuple[int, int, int] | None:
    """Which saved index is there: a new one is a new folder, so a new meta.json."""
    try:
        st = (directory / "meta.json").stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)
