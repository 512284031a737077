"""Events and contacts from the proxy, written by one background thread.

A hook only puts an item on a bounded queue (`event`, `sighting`): never a database call on the
request path. When the queue is full the item is dropped and counted; a request is never held
up for a write. The thread writes events with `agent.store.events.record_events` and contacts
with `agent.store.contacts`, turning the contacts the store had not seen into "new contact"
events (`agent.proxy.contacts.news`).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from agent.proxy.contacts.base import Contact
from agent.proxy.contacts.news import new_contact_events
from agent.rules.catalog import Catalog
from agent.store.contacts import note_listing, record_contacts
from agent.store.events import KeyedEvent, record_events

log = logging.getLogger(__name__)
BATCH = 200


@dataclass(frozen=True)
class Sighting:
    """Contacts read from one response of a child's device."""

    child: str
    device: str | None
    service: str
    contacts: tuple[Contact, ...]
    listing: str | None  # see `Extraction.listing`
    when: datetime


Item = KeyedEvent | Sighting


class Recorder:
    def __init__(
        self,
        engine: Callable[[], Engine],
        catalog: Catalog | None = None,
        queue_size: int = 1000,
    ) -> None:
        self._make_engine, self.catalog = engine, catalog
        self._engine: Engine | None = None
        self._queue: queue.Queue[Item] = queue.Queue(maxsize=queue_size)
        self.accepted = self.done = self.dropped = self.failed = 0
        self.events_written = self.new_contacts = 0
        self._progress = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error = ""

    # -- the request path -------------------------------------------------------------------

    def event(self, item: KeyedEvent) -> bool:
        return self._put(item)

    def sighting(self, item: Sighting) -> bool:
        return self._put(item)

    def _put(self, item: Item) -> bool:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            return False
        self.accepted += 1
        return True

    # -- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="proxy-recorder", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Write what is queued (within `timeout`) and end the thread."""
        flushed = self.flush(timeout) if self._thread is not None else True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return flushed

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every item accepted so far is written (or failed); False on timeout."""
        target = self.accepted
        with self._progress:
            return self._progress.wait_for(lambda: self.done >= target, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(batch) < BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)
            with self._progress:
                self.done += len(batch)
                self._progress.notify_all()

    def _write(self, batch: list[Item]) -> None:
        try:
            engine = self._engine = self._engine or self._make_engine()
            events = [i for i in batch if isinstance(i, KeyedEvent)]
            for item in batch:
                if isinstance(item, Sighting):
                    events.extend(self._contacts(engine, item))
            self.events_written += record_events(engine, events)
            self._last_error = ""
        except Exception as exc:  # the database is away: count, say so once, keep going
            self.failed += len(batch)
            self._engine = None
            if str(exc) != self._last_error:
                self._last_error = str(exc)
                log.error("proxy events could not be stored (%s); %d dropped", exc, len(batch))

    def _contacts(self, engine: Engine, s: Sighting) -> list[KeyedEvent]:
        history = s.listing is not None and note_listing(engine, s.child, s.listing, s.when)
        new = record_contacts(engine, s.child, s.contacts, s.when, s.device)
        self.new_contacts += len(new)
        if history or not new:
            return []  # a list's first sighting is the child's history, not news
        app = self.catalog.get(s.service) if self.catalog is not None else None
        return new_contact_events(s.child, s.device, new, app, s.when)
