"""The query-log writer: one row per DNS answer, written in batches by one background thread.

Rows (`LogEntry`, plain tuples) come in through `QueryLogWriter.submit`, which only appends to
an in-memory buffer. One thread owns a sqlite3 connection and writes the buffer, a batch per
statement (json_each). If the database is locked, read-only or the disk is full, the thread
keeps the batch, says so once in the log, and retries with back-off until the database is back.

Memory stays bounded: rows in the buffer plus the batch being retried never exceed
`queue_size`. Beyond that `submit` drops the *newest* row and counts it: the rows already
waiting are older, so the history a parent reads stays continuous up to the outage, and
dropping at the door costs nothing on the DNS path.

It runs in the query-log writer process (`agent.store.logproc`), which imports nothing but this
and the standard library: no SQLAlchemy, so it stays small.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import NamedTuple

from agent.store.sqlite import connect, explain

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


_COLUMNS = ", ".join(LogEntry._fields)
# One statement per batch: the whole insert runs inside SQLite with Python's lock released, so
# the DNS thread is not held up row by row (executemany hands the lock back and forth per row).
_INSERT_JSON = (
    f"INSERT INTO query_log ({_COLUMNS}) SELECT "
    + ", ".join(f"value->>{i}" for i in range(len(LogEntry._fields)))
    + " FROM json_each(?)"
)
_INSERT = f"INSERT INTO query_log ({_COLUMNS}) VALUES ({', '.join('?' * len(LogEntry._fields))})"
# The writer creates its table itself, so logging works even if it starts before init_db. The
# statements are written out here (this process has no SQLAlchemy); a test holds them equal to
# what the model (`agent.store.querylog.QueryLogRow`) generates, so there is one schema.
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS query_log ("
    "id INTEGER NOT NULL, ts FLOAT NOT NULL, client VARCHAR NOT NULL, device VARCHAR, "
    "child VARCHAR, name VARCHAR NOT NULL, qtype VARCHAR NOT NULL, action VARCHAR NOT NULL, "
    "rule VARCHAR NOT NULL, reason VARCHAR NOT NULL, category VARCHAR, app VARCHAR, "
    "upstream VARCHAR, latency_ms FLOAT, cached BOOLEAN NOT NULL, PRIMARY KEY (id))",
    "CREATE INDEX IF NOT EXISTS ix_query_log_child_ts ON query_log (child, ts)",
    "CREATE INDEX IF NOT EXISTS ix_query_log_ts ON query_log (ts)",
]
# Errors caused by a row's content rather than by the database: that row is rejected, the rest
# of its batch is written.
_ROW_ERRORS = (sqlite3.InterfaceError, sqlite3.IntegrityError, sqlite3.ProgrammingError)
_ROW_ERRORS += (sqlite3.DataError, TypeError, ValueError, OverflowError)
_RETRY_MIN = 0.05


def _open_writer_connection(path: Path, busy_timeout: float) -> sqlite3.Connection:
    conn = connect(path, busy_timeout_ms=int(busy_timeout * 1000))
    try:
        for statement in SCHEMA:
            conn.execute(statement)
    except BaseException:
        conn.close()
        raise
    return conn


class QueryLogWriter:
    """Takes rows from the DNS path without waiting and writes them in batches.

    `submit` is meant to be called from one thread (the DNS event loop); from several, a
    counter can miss an increment, never a row.
    """

    def __init__(
        self,
        db_path: Path,
        queue_size: int = 100_000,
        batch_size: int = 5_000,
        flush_interval: float = 0.25,
        *,
        busy_timeout: float = 1.0,
        retry_max: float = 5.0,
    ) -> None:
        self.db_path = Path(db_path)
        self.queue_size, self.batch_size = queue_size, batch_size
        self.flush_interval = flush_interval
        self.busy_timeout, self.retry_max = busy_timeout, retry_max
        self._buffer: deque[LogEntry] = deque()
        self._held = 0  # rows taken from the buffer, not yet written (maybe being retried)
        self._accepted = self._dropped_full = self._dropped_at_stop = 0
        self.written = self.rejected = self.failed_batches = 0
        self.batches = self.largest_batch = 0
        self.last_error = ""
        # The batch being committed, for a process that reports progress (`on_commit`):
        # (written before it, its last row's id, ts and name, its size, rows rejected from it).
        # Whoever outlives a killed writer can then tell from the database whether it landed.
        self.pending: tuple | None = None
        self.on_commit: Callable[[], None] | None = None  # called before and after each COMMIT
        self._failing = self._closed = False
        self._deadline = float("inf")
        self._wake, self._stop = threading.Event(), threading.Event()
        self._progress = threading.Condition()
        self._conn: sqlite3.Connection | None = None
        self._thread: threading.Thread | None = None

    @property
    def submitted(self) -> int:
        return self._accepted + self._dropped_full

    @property
    def dropped(self) -> int:
        return self._dropped_full + self._dropped_at_stop

    @property
    def queued(self) -> int:
        """Rows accepted and not yet written."""
        return len(self._buffer) + self._held

    def submit(self, entry: LogEntry) -> bool:
        """Queue one row. O(1), never blocks, never raises; False if it was dropped."""
        if self._closed or len(self._buffer) + self._held >= self.queue_size:
            self._dropped_full += 1
            return False
        self._buffer.append(entry)
        self._accepted += 1
        if len(self._buffer) == self.batch_size:
            self._wake.set()  # a full batch is written now, not at the next interval
        return True

    def start(self) -> None:
        if self._thread is None:
            # daemon: a writer stuck on a dead disk must not keep the process from exiting.
            self._thread = threading.Thread(target=self._run, name="querylog-writer", daemon=True)
            self._thread.start()

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
                if len(self._buffer) < self.batch_size and not self._stop.is_set():
                    self._wake.wait(self.flush_interval)
                self._wake.clear()
                # Everything present now is written before waiting again, which is what
                # flush() relies on: its rows were appended before it set _wake.
                remaining = len(self._buffer)
                while remaining > 0:
                    batch = self._take(remaining)
                    if not self._write_until_done(batch):
                        break
                    remaining -= len(batch)
                if self._stop.is_set() and not self._buffer:
                    return
        except Exception:  # a bug here must not end logging silently
            log.exception("Query log writer for %s stopped unexpectedly", self.db_path)
        finally:
            self._close()
            with self._progress:
                self._progress.notify_all()

    def _take(self, limit: int) -> list[LogEntry]:
        n = min(limit, self.batch_size, len(self._buffer))
        self._held = n  # counted before popping, so submit never sees room that is not there
        pop = self._buffer.popleft
        return [pop() for _ in range(n)]

    def _write_until_done(self, batch: list[LogEntry]) -> bool:
        """Write one batch, retrying with back-off; False if stop() ran out of time."""
        delay = _RETRY_MIN
        while True:
            try:
                rejected = self._write(batch)
            except Exception as exc:
                self._note_failure(exc)
            else:
                self._note_success(len(batch), rejected)
                return True
            remaining = self._deadline - time.monotonic()
            if self._stop.is_set():
                if remaining <= 0:
                    self._give_up(len(batch))
                    return False
                time.sleep(min(delay, remaining))
            else:
                self._stop.wait(delay)  # stop() cuts the wait short for a last attempt
            delay = min(delay * 2, self.retry_max)

    def _write(self, batch: list[LogEntry]) -> int:
        """Insert a batch in one transaction; returns how many rows were rejected."""
        conn = self._conn or _open_writer_connection(self.db_path, self.busy_timeout)
        self._conn = conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(_INSERT_JSON, (json.dumps(batch),))
                rejected = 0
            except _ROW_ERRORS:
                conn.execute("ROLLBACK")
                conn.execute("BEGIN IMMEDIATE")
                rejected = self._write_one_by_one(conn, batch)
            if self.on_commit is not None:
                self._announce(conn, len(batch), rejected)
            conn.execute("COMMIT")
            return rejected
        except BaseException:
            # Reopen next time: a connection opened read-only stays read-only.
            self.pending = None
            self._close()
            raise

    def _announce(self, conn: sqlite3.Connection, size: int, rejected: int) -> None:
        """Say which batch is about to be committed, before it is (see `pending`)."""
        last = conn.execute("SELECT id, ts, name FROM query_log ORDER BY id DESC LIMIT 1")
        row = last.fetchone() or (0, 0.0, "")
        self.pending = (self.written, *row, size, rejected)
        self.on_commit()  # type: ignore[misc]

    def progress(self) -> tuple[tuple | None, int, int, int]:
        """(pending, written, dropped, rejected), read in an order that another thread can
        trust: `written` grows before `pending` is cleared, and is read after it."""
        pending = self.pending
        return pending, self.written, self.dropped, self.rejected

    def _write_one_by_one(self, conn: sqlite3.Connection, batch: list[LogEntry]) -> int:
        rejected, example = 0, ""
        for row in batch:
            try:
                conn.execute(_INSERT, row)
            except _ROW_ERRORS as exc:
                rejected, example = rejected + 1, f"{exc} in {row!r:.200}"
        if rejected:
            log.warning("Query log: %d malformed rows not written, e.g. %s", rejected, example)
        return rejected

    def _note_success(self, size: int, rejected: int) -> None:
        self.written += size - rejected
        self.rejected += rejected
        self.pending = None  # after `written` grew: see `progress`
        if self.on_commit is not None:
            self.on_commit()
        self.batches += 1
        self.largest_batch = max(self.largest_batch, size)
        self._held = 0
        if self._failing:
            self._failing = False
            log.info("Query log: writing to %s again", self.db_path)
        with self._progress:
            self._progress.notify_all()

    def _note_failure(self, exc: Exception) -> None:
        self.failed_batches += 1
        self.last_error = f"{self.db_path}: {explain(exc)}"
        if not self._failing:  # once per episode; a locked database can fail every second
            self._failing = True
            log.warning(
                "Query log: cannot write to %s: %s. Keeping up to %d rows in memory and retrying.",
                self.db_path,
                explain(exc),
                self.queue_size,
            )

    def _give_up(self, held: int) -> None:
        lost = held + len(self._buffer)
        self._buffer.clear()
        self._held = 0
        self._dropped_at_stop += lost
        log.error("Query log: %d rows could not be written to %s at shutdown", lost, self.db_path)

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(sqlite3.Error):
                conn.close()
