"""The DNS side of the query log: hand rows to a writer process, never wait for it.

`submit` appends a tuple to a list (the only work on the DNS path). A sender thread swaps the
list out every `interval`, or at once when an eighth of the room is taken (`submit` wakes it,
once), and writes it to the writer process (`agent.store.logproc`) in frames of at most
`FRAME_ROWS` rows; a reader thread collects the process's status answers. So the buffer here
stays small (this is the DNS process: every row waiting is memory) and still never overflows
at a rate the writer can take. If the process falls behind, rows pile up here, bounded in
bytes: `buffer_bytes` as the frames measure them (the sender turns that into a number of rows
after each frame, so `submit` compares two integers). Once half of that is waiting, repeats
are dropped first (a row is kept only if it is the first this minute for its client and name,
`agent.store.firstrows`), so a flood cannot hide a visit; when it is full, every new row is
dropped. Drops are counted. The writer process keeps its own queue in bytes and, while the
database is away, a spool on local disk. If the process dies, it is started again and the
rows it held are counted as dropped: exactly, because the process reports after every COMMIT
and names each batch just before committing it, so the one batch whose fate is unknown is
looked up in the database (one indexed read, on the sender thread).

Same interface as `QueryLogWriter`: start, submit, flush, stop, written, dropped, rejected,
kept (rows in the spool for a later writer), recovered (rows an earlier writer left in the
spool, written since). Every row submitted is written, dropped, rejected or kept.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.store.firstrows import FirstRows
from agent.store.frames import encode_frame, read_frame, write_frame
from agent.store.logsink import batch_landed, is_postgres, shown
from agent.store.logwriter import QUEUE_BYTES, flat_row  # noqa: F401  (flat_row: re-exported)

if TYPE_CHECKING:
    from agent.config import Config

log = logging.getLogger(__name__)
NO_STATUS: tuple = ("status", 0, 0, 0, 0, 0, "", None, 0, 0)
FINAL = -1  # the token of the answer to "stop"
# Rows waiting here, between two sends, as frames measure them (a frame carries a shared head
# once: some 20-150 bytes a row), and never more rows than this. A row waiting costs this
# process ~120 bytes (a tuple and a float), a row being sent as much again, and Python's
# allocator keeps what a flood's rows took: with 1M names under a blocked flood the DNS
# process measured 2.2 MB less RSS with 2,000 rows than with 8,000 (and one 1 MB frame).
# Small is enough because the sender is woken as soon as an eighth of it is taken: at 20,000
# rows/s that is every 12 ms, long before repeats would be dropped.
BUFFER_BYTES = 256 << 10
BUFFER_ROWS = 2_000
WAKE_SHARE = 8  # the sender is woken once 1/WAKE_SHARE of the room is taken
SEND_GAP = 0.01  # seconds between two sends at least (at 20,000 rows/s, 200 rows: 1/10 the room)
FRAME_ROWS = 500  # rows a frame at most: no large transient buffer, none past the mmap limit
ROW_BYTES = 100  # a row's share of a frame until the first frame says (shared heads: ~20-150)
SPOOL_NAME = "querylog.spool"


PIPE_BYTES = 1 << 20  # Linux's default most for a pipe: some 40,000 rows in the kernel


def _grow_pipe(stream: Any) -> None:
    """Slack for a busy writer in the pipe, in the kernel's memory rather than this process's
    (the DNS process keeps only `buffer_bytes` of its own). Best effort: Linux only."""
    with contextlib.suppress(AttributeError, OSError, ValueError):
        fcntl.fcntl(stream.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


class LogPipe:
    def __init__(
        self,
        target: Path | str,
        queue_bytes: int = QUEUE_BYTES,
        interval: float = 0.05,
        buffer_bytes: int = BUFFER_BYTES,
        *,
        spool: Path | None = None,
        spool_bytes: int = 0,
    ) -> None:
        """`target`: a SQLite file or a postgresql:// URL. `queue_bytes` of rows may wait in
        the writer process's memory (the database is busy), then `spool_bytes` in the `spool`
        file while it is away; `buffer_bytes` here, between two sends (kept small: this is
        the DNS process)."""
        postgres = is_postgres(target)
        self.target = str(target) if postgres else Path(str(target).removeprefix("sqlite:///"))
        self.queue_bytes, self.interval = queue_bytes, interval
        self.gap = min(SEND_GAP, interval)
        self.buffer_bytes = min(buffer_bytes, queue_bytes)  # never more here than there
        self.spool, self.spool_bytes = spool, spool_bytes
        self._room = self._crowded = self._busy = 0
        self._fit(max(2, min(BUFFER_ROWS, self.buffer_bytes // ROW_BYTES)))
        self._firsts = FirstRows()
        self._rows: list[tuple] = []
        self._wake = threading.Event()  # set once by `submit` when rows pile up
        self._woken = False  # `submit` has set `_wake` since the sender last swapped
        self._accepted = self._dropped_here = 0
        self._sent = 0  # rows sent to the current process
        self._status: tuple = NO_STATUS  # the current process's last answer
        # written, dropped, rejected, kept, recovered by processes that have ended
        self._earlier = [0, 0, 0, 0, 0]
        self._answers: dict[int, threading.Event] = {}
        self._token = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # one frame on the pipe at a time
        self._sending = threading.Lock()  # rows taken and sent in the order they were taken
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None  # the current process's status reader
        self._sender: threading.Thread | None = None

    # -- counters ----------------------------------------------------------------------------

    @property
    def written(self) -> int:
        return self._earlier[0] + self._status[2]

    @property
    def dropped(self) -> int:
        return self._dropped_here + self._earlier[1] + self._status[3]

    @property
    def rejected(self) -> int:
        return self._earlier[2] + self._status[4]

    @property
    def kept(self) -> int:
        return self._earlier[3] + self._status[8]

    @property
    def recovered(self) -> int:
        return self._earlier[4] + self._status[9]

    @property
    def waiting(self) -> int:
        """Rows waiting in this process for the sender."""
        return len(self._rows)

    @property
    def last_error(self) -> str:
        return self._status[6]

    @property
    def db_path(self) -> Path | str:
        return self.target

    @classmethod
    def for_config(cls, cfg: Config) -> LogPipe:
        """The pipe `[store]` asks for: its database, its queue, and its spool in the data
        folder (where the dashboard's key is kept: local disk, whatever the database)."""
        store, db = cfg.store, cfg.database_path
        folder = cfg.resolve(cfg.dashboard.secret_key_file).parent
        return cls(
            db if db is not None else store.url,
            store.log_queue_kb * 1024,
            spool=folder / SPOOL_NAME,
            spool_bytes=store.log_spool_mb * (1 << 20),
        )

    # -- the DNS path ------------------------------------------------------------------------

    def submit(self, row: tuple) -> bool:
        n = len(self._rows)
        if n >= self._busy:  # rare: rows are piling up (the common path is this compare)
            if not self._woken:
                self._woken = True
                self._wake.set()
            if n >= self._crowded and (n >= self._room or not self._firsts.first(row)):
                self._dropped_here += 1
                return False
        self._rows.append(row)
        self._accepted += 1
        return True

    def _fit(self, room: int) -> None:
        """Rows that fit here: past half of them repeats are dropped, past an eighth the
        sender is woken."""
        self._room = room
        self._crowded = room // 2
        self._busy = max(1, room // WAKE_SHARE)

    # -- the process -------------------------------------------------------------------------

    def start(self) -> None:
        self._spawn()
        self._sender = threading.Thread(target=self._send_loop, name="querylog-sender", daemon=True)
        self._sender.start()

    def _spawn(self) -> None:
        spool = str(self.spool) if self.spool is not None else "-"
        cmd = [sys.executable, "-m", "agent.store.logproc", str(self.target)]
        cmd += [str(self.queue_bytes), spool, str(self.spool_bytes)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        _grow_pipe(self._proc.stdin)
        proc = self._proc
        self._reader = threading.Thread(
            target=self._read_loop, args=(proc,), name="querylog-status", daemon=True
        )
        self._reader.start()

    def _read_loop(self, proc: subprocess.Popen[bytes]) -> None:
        while True:
            try:
                message = read_frame(proc.stdout)  # type: ignore[arg-type]
            except (OSError, ValueError, EOFError):
                message = None
            if message is None:
                return
            self._status = message
            event = self._answers.pop(message[1], None)
            if event is not None:
                event.set()

    def _send_loop(self) -> None:
        wake = self._wake
        while not self._stopping.is_set():
            wake.wait(self.interval)
            wake.clear()
            self._woken = False  # before the swap: rows after it may wake us again
            self._send_pending()
            # Flat out, rows pile up again at once: a pause between sends keeps the DNS thread
            # from handing Python's lock to this one (and the CPU to the writer) a thousand
            # times a second. At 20,000 rows/s a gap's rows are a tenth of the room.
            self._stopping.wait(self.gap)

    def _send_pending(self) -> None:
        # One send at a time, from the swap to the pipe: frames keep the rows' order, and a
        # flush asked now goes after the rows another thread has just taken.
        with self._sending:
            rows, self._rows = self._rows, []  # one swap: the DNS thread goes on with a new list
            for i, row in enumerate(rows):
                if type(row) is not tuple:  # marshal takes plain tuples (LogEntry is a subclass)
                    rows[i] = tuple(row)
            for start in range(0, len(rows), FRAME_ROWS):
                chunk = rows[start : start + FRAME_ROWS] if len(rows) > FRAME_ROWS else rows
                self._send(("rows", chunk), len(chunk))

    def _send(self, message: tuple, rows: int = 0) -> bool:
        try:
            header, body = encode_frame(message, rows)
        except ValueError as exc:  # a value marshal cannot carry: a bug, never a dead process
            log.error("query-log rows could not be encoded (%s); %d rows dropped", exc, rows)
            self._dropped_here += rows
            return False
        if rows >= 100:  # enough rows to tell what one costs: the room follows the load
            self._fit(max(2, min(BUFFER_ROWS, self.buffer_bytes * rows // len(body))))
        with self._lock:
            proc = self._proc
            try:
                proc.stdin.write(header)  # type: ignore[union-attr]
                proc.stdin.write(body)  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
                self._sent += rows
                return True
            except (OSError, ValueError) as exc:
                self._process_lost(rows, exc)
                return False

    def _process_lost(self, rows: int, exc: Exception) -> None:
        """The writer process is gone: count what it held as dropped, start another."""
        self._settle(rows, str(exc))
        if not self._stopping.is_set():
            log.error("the query-log writer stopped (%s); starting it again", exc)
            self._spawn()

    def _settle(self, unsent: int, error: str) -> None:
        """Fold a lost process's counts into the totals: what it committed as written, the
        rest of what it was sent (and `unsent`, which never reached it) as dropped."""
        proc = self._proc
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.kill()  # it is dead or dying; make sure it writes nothing more
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
        if self._reader is not None:
            self._reader.join(5)  # every status it managed to send has been read
        _, _, written, dropped, rejected, _, _, pending, kept, recovered = self._status
        if pending is not None and pending[0] == written:  # a batch it may have committed
            landed, refused = self._landed(pending)
            written, rejected = written + landed, rejected + refused
        unaccounted = max(0, self._sent - written - dropped - rejected - kept)
        self._earlier[0] += written
        self._earlier[1] += dropped + unaccounted + unsent
        self._earlier[2] += rejected
        self._earlier[3] += kept
        self._earlier[4] += recovered
        self._sent, self._status = 0, NO_STATUS[:6] + (error, None, 0, 0)

    def _landed(self, pending: tuple) -> tuple[int, int]:
        """(written, rejected) of the batch a killed process was committing: its last row is
        in the database, with its time and name, only if the COMMIT went through."""
        _, last_id, last_ts, last_name, size, rejected = pending
        landed = batch_landed(self.target, (last_id, last_ts, last_name))
        if landed is None:
            log.error("cannot tell whether %d query-log rows reached %s", size, shown(self.target))
        return (size - rejected, rejected) if landed else (0, 0)

    def _ask(self, timeout: float) -> bool:
        self._token += 1
        token, event = self._token, threading.Event()
        self._answers[token] = event
        return self._send(("flush", token)) and event.wait(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every row submitted so far is in the database; False on timeout."""
        deadline = time.monotonic() + timeout
        self._send_pending()
        return self._ask(max(0.0, deadline - time.monotonic()))

    def stop(self, timeout: float = 10.0) -> bool:
        self._stopping.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join(timeout)
        self._send_pending()
        proc = self._proc
        if proc is None:
            return True
        final = self._answers[FINAL] = threading.Event()
        with self._lock:
            try:
                write_frame(proc.stdin, ("stop",))  # type: ignore[arg-type]
                proc.stdin.close()  # type: ignore[union-attr]
            except (OSError, ValueError):
                pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
        if final.wait(2.0) and proc.returncode == 0:
            return True
        self._settle(0, f"the query-log writer ended with {proc.returncode}")
        self._proc = None
        return False
