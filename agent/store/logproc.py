"""The query-log writer process: reads frames of rows on stdin, writes them to the database.

Started by `agent.store.logpipe.LogPipe` as

    python -m agent.store.logproc TARGET QUEUE_BYTES SPOOL SPOOL_BYTES

TARGET a SQLite file or a postgresql:// URL, SPOOL a file for rows kept while the database is
away ("-" for none). Frames on stdin and stdout are `agent.store.frames`:

    ("rows", [row, ...])     rows to write (the header says how many)
    ("flush", token)         answer ("status", token, ...) once every earlier row is written
                             (answered by the writer thread: reading goes on meanwhile)
    ("stop",)                write what is left, answer a final status, exit

Besides the answers, a status with token 0 goes out just before and just after every COMMIT,
and after every failed attempt; the one before a COMMIT names the batch
(`QueryLogWriter.pending`), so if this process is killed the DNS side can count exactly what
reached the database (`LogPipe`), committed or not.

The work itself is `QueryLogWriter`'s: batching, retries while the database is away, a queue
bounded in bytes, the spool, and counted drops. Once it is crowded, repeats are dropped first
(`agent.store.firstrows`): the other half is kept for rows that are the first this minute for
their client and name. Running it in its own process keeps the database's CPU time and
Python's lock away from the DNS answers. It imports the standard library and these modules
only (psycopg too for a PostgreSQL target, and the fast path's `trim_heap`), to stay small.
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import sys
import threading
import time
from pathlib import Path
from typing import BinaryIO

from agent import logsafe
from agent.dns import native
from agent.store.firstrows import FirstRows
from agent.store.frames import read_raw, write_frame
from agent.store.logspool import Spool
from agent.store.logwriter import QueryLogWriter
from agent.store.sqlite import explain

# Rows a transaction. Past a few thousand a batch costs the same per row; the queue in bytes
# and the spool, not the batch, bound the memory.
BATCH_ROWS = 5_000


def status(writer: QueryLogWriter, token: int, repeats: int = 0) -> tuple:
    pending, written, dropped, rejected = writer.progress()
    return (
        "status",
        token,
        written,
        dropped + repeats,
        rejected,
        writer.failed_batches,
        writer.last_error,
        pending,
        writer.kept,
        writer.recovered,
    )


# Seconds `stop` may spend writing what is left (the DNS side waits 10 s before it kills us).
STOP_SECONDS = 6.0
# Seconds between commits. Each commit rewrites the pages it touched, so on an SD card the
# number of commits, not of rows, decides the wear (see docs/raspberry-pi.md); a flush or a
# full batch still writes at once.
COMMIT_INTERVAL = 5.0


def without_repeats(body: bytes, firsts: FirstRows) -> tuple[bytes, int, int]:
    """The frame with only the rows that are the first this minute for their (client, name):
    (body, rows kept, rows dropped)."""
    rows = marshal.loads(body)[1]
    kept = [row for row in rows if firsts.first(row)]
    return marshal.dumps(("rows", kept)), len(kept), len(rows) - len(kept)


def serve(writer: QueryLogWriter, inp: BinaryIO, out: BinaryIO) -> int:
    lock = threading.Lock()  # the writer thread's reports and the answers share `out`
    repeats = [0]  # rows dropped here as repeats (counted by this thread, reported by both)
    flushes: list[tuple[int, int]] = []  # (rows to be written, token) not answered yet

    def send(token: int) -> None:
        with lock, contextlib.suppress(OSError, ValueError):  # the DNS side is gone
            write_frame(out, status(writer, token, repeats[0]))

    flush_lock = threading.Lock()  # both threads report

    trimmed = [time.monotonic()]

    def report() -> None:
        send(0)
        now = time.monotonic()
        if now - trimmed[0] >= native.TRIM_SECONDS:  # a batch's rows are freed at its commit:
            trimmed[0] = now  # their pages go back to the system, not kept for the next flood
            native.trim_heap()
        done = writer.written + writer.rejected
        with flush_lock:
            due = [f for f in flushes if f[0] <= done]
            for f in due:
                flushes.remove(f)
        for _, token in due:
            send(token)

    writer.on_commit = report
    writer.start()
    firsts = FirstRows()
    while True:
        got = read_raw(inp)
        message = None if got is None or got[0] else marshal.loads(got[1])
        if got is None or (message is not None and message[0] == "stop"):
            writer.stop(STOP_SECONDS)
            # The DNS process may be gone already (stopped, or it could not start): its rows
            # are written all the same; only the answer has nowhere to go.
            send(-1)
            return 0
        rows, body = got
        if rows:
            if writer.crowded:
                body, rows, dropped = without_repeats(body, firsts)
                repeats[0] += dropped
            writer.submit_frame(body, rows)
        elif message is not None and message[0] == "flush":
            # The writer thread answers (`report`), so the database being away never stops
            # this thread reading: rows go on to the spool meanwhile.
            with flush_lock:
                flushes.append((writer.submitted - writer.dropped, message[1]))
            report()
            writer.hurry()


def open_writer(argv: list[str]) -> QueryLogWriter:
    target, queue_bytes = argv[1], int(argv[2])
    spool_path, spool_bytes = argv[3], int(argv[4])
    log = logging.getLogger("agent.store.querylog")
    spool = None
    if spool_path != "-" and spool_bytes:
        try:
            spool = Spool(Path(spool_path), spool_bytes)
        except OSError as exc:  # the log goes on without it: rows past memory are dropped
            log.error("Query log: cannot keep rows on disk (%s): %s", spool_path, explain(exc))
    if spool is not None and spool.waiting:
        log.info("Query log: %d bytes of rows kept on disk earlier are sent first", spool.waiting)
    return QueryLogWriter(
        target,
        batch_size=BATCH_ROWS,
        flush_interval=COMMIT_INTERVAL,
        queue_bytes=queue_bytes,
        spool=spool,
    )


def main(argv: list[str]) -> int:
    logsafe.install()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s querylog: %(message)s"
    )
    # Below the DNS (answers first), above the jobs process (insights can wait; rows that
    # wait too long are dropped and counted, never a reason to answer late).
    os.nice(15)
    try:
        return serve(open_writer(argv), sys.stdin.buffer, sys.stdout.buffer)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the agent stops us
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
