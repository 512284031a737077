"""The query-log writer: one row per DNS answer, written in batches by one background thread.

Rows come in through `submit` (one row) or `submit_frame` (a marshalled frame of rows, as the
DNS process sends them: kept as the bytes it came in, unpacked only when written, so the queue
is bounded in bytes and its memory does not follow the load). One thread writes the queue to
the database (`agent.store.logsink`: SQLite or PostgreSQL), a batch per transaction. If the
database is locked, full or away, the thread keeps the batch, says so once in the log, and
retries with back-off until the database is back.

Memory stays bounded: past `queue_bytes` (or `queue_size` rows) frames go to the local-disk
spool (`agent.store.logspool`) if there is one, and from then on every frame goes there until
it has been written to the database, so rows arrive in order. Past the spool's bound rows are
dropped and counted: the *newest*, so the history a parent reads stays continuous up to the
outage, and dropping at the door costs nothing. At stop with the database away, what memory
holds goes to the spool when it is empty (the next writer sends it), else it is dropped.

It runs in the query-log writer process (`agent.store.logproc`), which imports nothing but this
and the standard library: no SQLAlchemy, so it stays small.
"""

from __future__ import annotations

import logging
import marshal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from agent.store.logbatch import Batch, Chunk, flat_row, unpack  # noqa: F401  (re-exported)
from agent.store.logsink import (  # noqa: F401  (_INSERT, _COLUMNS: re-exported by querylog)
    _COLUMNS,
    _INSERT,
    SCHEMA,
    _open_writer_connection,
    is_postgres,
    log_fields,
    open_sink,
    shown,
)
from agent.store.logspool import Spool
from agent.store.sqlite import explain

log = logging.getLogger("agent.store.querylog")


class LogEntry(NamedTuple):
    """One row as the DNS path builds it: the columns of `QueryLogRow` minus id, in order."""

    ts: float
    client: str
    device: str | None
    child: str | None
    name: str
    qtype: str
    action: str
    rule: str
    reason: str
    category: str | None = None
    app: str | None = None
    upstream: str | None = None
    latency_ms: float | None = None
    cached: bool = False


assert LogEntry._fields == log_fields
_RETRY_MIN = 0.05
ROW_BYTES = 200  # what one row handed to `submit` is taken to cost in the queue
# The queue's default bound (`[store] log_queue_kb`). Past it frames go to the spool on disk, so
# more room here is only more memory: flat out the queue fills to its bound (4 MB was ~4 MB of
# the writer process's RSS), and 1 MB is still half a second of a flood.
QUEUE_BYTES = 1 << 20


def pack(rows: list) -> bytes:
    return marshal.dumps(("rows", [tuple(r) for r in rows]))


class QueryLogWriter:
    """Takes rows without waiting and writes them in batches.

    `submit` and `submit_frame` are meant to be called from one thread; from several, a
    counter can miss an increment, never a row.
    """

    def __init__(
        self,
        target: Path | str,
        queue_size: int = 10_000_000,
        batch_size: int = 5_000,
        flush_interval: float = 0.25,
        *,
        queue_bytes: int = QUEUE_BYTES,
        spool: Spool | None = None,
        busy_timeout: float = 1.0,
        retry_max: float = 5.0,
    ) -> None:
        self.target = str(target) if is_postgres(target) else Path(target)
        self.shown = shown(target)
        self.queue_size, self.queue_bytes, self.batch_size = queue_size, queue_bytes, batch_size
        self.flush_interval, self.spool = flush_interval, spool
        self.busy_timeout, self.retry_max = busy_timeout, retry_max
        self._lock = threading.Lock()  # the queue and the spool, between submit and writer
        # rows (a list, from submit) or (frame body, its rows) from submit_frame
        self._chunks: deque[Chunk] = deque()
        self._tail: list | None = None  # the chunk `submit` appends to
        self._rows = self._bytes = 0  # in `_chunks`
        self._held = 0  # rows taken from the queue, not yet written (maybe being retried)
        self._batch = Batch([], self._reject_frame)  # being written (queue or spool)
        self._spooled = 0  # rows of this writer in the spool
        self._accepted = self._dropped_full = self._dropped_at_stop = 0
        self.written = self.rejected = self.failed_batches = self.recovered = 0
        self.batches = self.largest_batch = 0
        self.last_error = ""
        # The batch being committed, for a process that reports progress (`on_commit`):
        # (written before it, its last row's id, ts and name, its size, rows rejected from it).
        # Whoever outlives a killed writer can then tell from the database whether it landed.
        self.pending: tuple | None = None
        # called before and after each COMMIT, and after each failed attempt
        self.on_commit: Callable[[], None] | None = None
        self._failing = self._closed = False
        self._deadline = float("inf")
        self._wake, self._stop = threading.Event(), threading.Event()
        self._progress = threading.Condition()
        self._sink = open_sink(target, busy_timeout)
        self._thread: threading.Thread | None = None

    @property
    def db_path(self) -> Path | str:
        return self.target

    @property
    def submitted(self) -> int:
        return self._accepted + self._dropped_full

    @property
    def dropped(self) -> int:
        return self._dropped_full + self._dropped_at_stop

    @property
    def kept(self) -> int:
        """Rows of this writer waiting in the spool on disk."""
        return self._spooled

    @property
    def queued(self) -> int:
        """Rows accepted and not yet written."""
        return self._rows + self._held + self._spooled

    @property
    def crowded(self) -> bool:
        """Past half of the room there is: time to drop repeats (`agent.store.firstrows`)."""
        spool = self.spool
        if spool is not None and spool.limit > 0:
            return spool.used > spool.limit // 2
        return self._bytes > self.queue_bytes // 2 or self.queued > self.queue_size // 2

    def _spooling(self) -> bool:
        return self.spool is not None and self.spool.waiting > 0

    def submit(self, entry: tuple) -> bool:
        """Queue one row. O(1), never blocks, never raises; False if it was dropped."""
        if self._closed or self.queued >= self.queue_size or self._bytes >= self.queue_bytes:
            self._dropped_full += 1
            return False
        with self._lock:
            tail = self._tail
            if tail is None or len(tail) >= self.batch_size:
                tail = self._tail = []
                self._chunks.append(tail)
            tail.append(entry)
            self._rows += 1
            self._bytes += ROW_BYTES
        self._accepted += 1
        if self._rows >= self.batch_size:
            self._wake.set()  # a full batch is written now, not at the next interval
        return True

    def submit_frame(self, body: bytes, rows: int) -> bool:
        """Queue a frame of `rows` rows (its marshalled body), in memory or else in the spool;
        False if it was dropped (and its rows counted)."""
        kept = False
        with self._lock:
            if self._closed:
                pass
            elif (
                not self._spooling()
                # one frame past the bound when memory is empty and there is no spool, so that
                # a tiny queue still moves
                and (
                    self._bytes + len(body) <= self.queue_bytes
                    or (not self._chunks and self.spool is None)
                )
                and self.queued + rows <= self.queue_size
            ):
                self._chunks.append((body, rows))
                self._tail = None
                self._rows += rows
                self._bytes += len(body)
                kept = True
            elif self.spool is not None and self.spool.append(body, rows):
                self._spooled += rows
                kept = True
        if not kept:
            self._dropped_full += rows
            return False
        self._accepted += rows
        # a full batch, or a queue half full, is written now, not at the next interval
        if (
            self._rows >= self.batch_size
            or self._bytes >= self.queue_bytes // 2
            or self._spooled >= self.batch_size
        ):
            self._wake.set()
        return True

    def start(self) -> None:
        if self._thread is None:
            # daemon: a writer stuck on a dead disk must not keep the process from exiting.
            self._thread = threading.Thread(target=self._run, name="querylog-writer", daemon=True)
            self._thread.start()

    def hurry(self) -> None:
        """Write what waits now rather than at the next interval."""
        self._wake.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row accepted so far is written (or rejected); False on timeout."""
        target = self._accepted
        self._wake.set()
        with self._progress:
            return self._progress.wait_for(lambda: self.written + self.rejected >= target, timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Write what is left and end the thread. False if rows had to be given up."""
        self._closed = True
        self._deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            self._run()  # never started: write the remainder from here
        else:
            self._thread.join(timeout + self.busy_timeout + 1.0)
        return self.queued == 0 and not (self._thread and self._thread.is_alive())

    def _run(self) -> None:
        try:
            while True:
                if self._rows < self.batch_size and not self._stop.is_set():
                    self._wake.wait(self.flush_interval)
                self._wake.clear()
                # Everything present now is written before waiting again, which is what
                # flush() relies on: its rows were queued before it set _wake.
                while (taken := self._take()) is not None:
                    if not self._write_until_done(*taken):
                        break
                if self._stop.is_set() and not self._chunks:
                    return
        except Exception:  # a bug here must not end logging silently
            log.exception("Query log writer for %s stopped unexpectedly", self.shown)
        finally:
            self._sink.close()
            if self.spool is not None:
                self.spool.close()
            with self._progress:
                self._progress.notify_all()

    def _take(self) -> tuple[Batch, int, bool] | None:
        """The next batch, oldest first: (its rows, spool offset after it or 0, from an earlier
        writer's spool); None when nothing waits. Frames stay packed until they are written
        (`Batch`)."""
        chunks: list[Chunk] = []
        with self._lock:
            n = 0
            while self._chunks and (n == 0 or n < self.batch_size):
                chunk = self._chunks[0]
                size = len(chunk) if type(chunk) is list else chunk[1]
                if n and n + size > self.batch_size:
                    break
                self._chunks.popleft()
                if chunk is self._tail:
                    self._tail = None
                chunks.append(chunk)
                n += size
            if chunks:
                self._held = n  # counted before the queue shrinks: no room that is not there
                self._rows -= n
                self._bytes -= sum(
                    ROW_BYTES * len(c) if type(c) is list else len(c[0]) for c in chunks
                )
                return Batch(chunks, self._reject_frame), 0, False
            if self.spool is not None and (peeked := self._peek_spool()):
                frames, end, leftover = peeked
                return (
                    Batch(list(frames), self._forget_frame if leftover else self._reject_frame),
                    end,
                    leftover,
                )
            return None

    def _peek_spool(self) -> tuple[list[tuple[bytes, int]], int, bool] | None:
        try:
            return self.spool.peek(self.batch_size)  # type: ignore[union-attr]
        except OSError as exc:  # a disk that fails to read: what is in memory still goes
            self.last_error = f"{self.spool.path}: {explain(exc)}"  # type: ignore[union-attr]
            return None

    def _reject_frame(self, rows: int) -> None:
        """A frame of this writer's that cannot be read (a damaged spool): its rows are
        rejected."""
        self.rejected += rows

    @staticmethod
    def _forget_frame(rows: int) -> None:
        """An earlier writer's frame that cannot be read: only said in the log (`Batch`), as
        this writer's counts never had its rows."""

    def _write_until_done(self, batch: Batch, spool_end: int, leftover: bool) -> bool:
        """Write one batch, retrying with back-off; False if stop() ran out of time."""
        delay = _RETRY_MIN
        announce = self._announce if self.on_commit is not None and not leftover else None
        self._batch = batch
        while True:
            try:
                rejected, example = self._sink.write(batch, announce)
            except Exception as exc:
                self.pending = None
                self._note_failure(exc)
            else:
                if rejected:
                    log.warning(
                        "Query log: %d malformed rows not written, e.g. %s", rejected, example
                    )
                self._note_success(len(batch), rejected, spool_end, leftover)
                return True
            remaining = self._deadline - time.monotonic()
            if self._stop.is_set():
                if remaining <= 0:
                    self._give_up(batch, spool_end)
                    return False
                time.sleep(min(delay, remaining))
            else:
                self._stop.wait(delay)  # stop() cuts the wait short for a last attempt
            delay = min(delay * 2, self.retry_max)

    def _announce(self, last: tuple, rejected: int) -> None:
        """Say which batch is about to be committed, before it is (see `pending`)."""
        self.pending = (self.written, *last, len(self._batch), rejected)
        self.on_commit()  # type: ignore[misc]

    def progress(self) -> tuple[tuple | None, int, int, int]:
        """(pending, written, dropped, rejected), read in an order that another thread can
        trust: `written` grows before `pending` is cleared, and is read after it."""
        pending = self.pending
        return pending, self.written, self.dropped, self.rejected

    def _note_success(self, size: int, rejected: int, spool_end: int, leftover: bool) -> None:
        if leftover:
            self.recovered += size - rejected
        else:
            self.written += size - rejected
        self.rejected += rejected
        self.pending = None  # after `written` grew: see `progress`
        if spool_end:
            with self._lock:
                self.spool.advance(spool_end)  # type: ignore[union-attr]
                if not leftover:
                    self._spooled = max(0, self._spooled - size)
                if not self.spool.waiting:  # type: ignore[union-attr]
                    self._spooled = 0
        else:
            self._held = 0
        if self.on_commit is not None:
            self.on_commit()
        self.batches += 1
        self.largest_batch = max(self.largest_batch, size)
        if self._failing:
            self._failing = False
            log.info("Query log: writing to %s again", self.shown)
        with self._progress:
            self._progress.notify_all()

    def _note_failure(self, exc: Exception) -> None:
        self.failed_batches += 1
        self.last_error = f"{self.shown}: {explain(exc)}"
        if not self._failing:  # once per episode; a locked database can fail every second
            self._failing = True
            where = "in memory" if self.spool is None else "in memory and then on disk"
            log.warning(
                "Query log: cannot write to %s: %s. Keeping rows %s and retrying.",
                self.shown,
                explain(exc),
                where,
            )
        if self.on_commit is not None:
            self.on_commit()

    def _give_up(self, batch: Batch, spool_end: int) -> None:
        """Out of time at stop: what memory holds goes to an empty spool, else is dropped."""
        with self._lock:
            held = [] if spool_end else list(batch)  # a spooled batch is still in its file
            chunks, self._chunks = list(self._chunks), deque()
            self._rows = self._bytes = self._held = 0
            rows = held + [r for c in chunks for r in (c if type(c) is list else unpack(c[0]))]
            spool = self.spool
            fits = rows and spool is not None and not self._spooling()
            if fits and spool.append(pack(rows), len(rows)):  # type: ignore[union-attr]
                self._spooled += len(rows)
                log.warning("Query log: %d rows kept on disk for the next start", len(rows))
                return
        self._dropped_at_stop += len(rows)
        log.error("Query log: %d rows not written to %s at shutdown", len(rows), self.shown)
