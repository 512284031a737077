"""The query-log writer process: reads batches of rows on stdin, writes them into SQLite.

Started by `agent.store.logpipe.LogPipe`. Frames on stdin and stdout are a 4-byte big-endian
length followed by a `marshal`ed tuple:

    ("rows", [row, ...])     rows to write (LogEntry field order)
    ("flush", token)         answer ("status", token, ...) once every earlier row is written
    ("stop",)                write what is left, answer a final status, exit

Besides the answers, a status with token 0 goes out just before and just after every COMMIT;
the one before names the batch (`QueryLogWriter.pending`), so if this process is killed the
DNS side can count exactly what reached the database (`LogPipe`), committed or not.

The work itself is `QueryLogWriter`'s: batching, retries while the database is locked, read-only
or full, and a bounded queue whose drops are counted. Once that queue is half full, repeats are
dropped first (`agent.store.firstrows`): the other half is kept for rows that are the first this
minute for their client and name. Running it in its own process keeps SQLite's CPU time and
Python's lock away from the DNS answers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import BinaryIO

from agent import logsafe
from agent.store.firstrows import FirstRows
from agent.store.frames import read_frame, write_frame
from agent.store.logpipe import flat_row
from agent.store.logwriter import QueryLogWriter


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
    )


# Seconds between commits. Each commit rewrites the pages it touched, so on an SD card the
# number of commits, not of rows, decides the wear (see docs/raspberry-pi.md); a flush or a
# full batch still writes at once.
COMMIT_INTERVAL = 5.0


def serve(db_path: Path, queue_size: int, inp: BinaryIO, out: BinaryIO) -> int:
    writer = QueryLogWriter(db_path, queue_size, flush_interval=COMMIT_INTERVAL)
    lock = threading.Lock()  # the writer thread's reports and the answers share `out`

    repeats = [0]  # rows dropped here as repeats (counted by this thread, reported by both)

    def send(token: int) -> None:
        with lock, contextlib.suppress(OSError, ValueError):  # the DNS side is gone
            write_frame(out, status(writer, token, repeats[0]))

    writer.on_commit = lambda: send(0)
    writer.start()
    firsts, crowded = FirstRows(), queue_size // 2
    while True:
        message = read_frame(inp)
        if message is None or message[0] == "stop":
            writer.stop()
            # The DNS process may be gone already (stopped, or it could not start): its rows
            # are written all the same; only the answer has nowhere to go.
            send(-1)
            return 0
        if message[0] == "rows":
            for row in message[1]:
                if writer.queued >= crowded and not firsts.first(row):
                    repeats[0] += 1
                    continue
                writer.submit(flat_row(row))
        elif message[0] == "flush":
            writer.flush(30.0)
            send(message[1])


def main(argv: list[str]) -> int:
    logsafe.install()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s querylog: %(message)s"
    )
    db_path, queue_size = Path(argv[1]), int(argv[2])
    # Below the DNS (answers first), above the jobs process (insights can wait; rows that
    # wait too long are dropped and counted, never a reason to answer late).
    os.nice(15)
    try:
        return serve(db_path, queue_size, sys.stdin.buffer, sys.stdout.buffer)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group; the agent stops us
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
