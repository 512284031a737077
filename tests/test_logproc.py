"""The query-log writer process under a flood: its memory does not follow the load, and every
row it was sent is written, kept or counted as dropped. The real process, fed frames on its
stdin as the DNS process sends them, writing to a real SQLite file."""

from __future__ import annotations

import marshal
import struct
import subprocess
import sys
import threading
from pathlib import Path

from agent.store.logwriter import QUEUE_BYTES

HEADER = struct.Struct(">II")  # a frame's body length and its rows (agent.store.frames)
HEAD = ("192.168.1.20", "aa:bb:cc:dd:ee:ff", "Sam", "", "A", "block", "list:adult", "", "adult")
FLOOD = 300_000  # rows, each for another name
FRAME_ROWS = 500


def frame(message: tuple, rows: int = 0) -> bytes:
    body = marshal.dumps(message)
    return HEADER.pack(len(body), rows) + body


def read_status(stream, token: int) -> tuple:  # noqa: ANN001
    """Status frames until the one answering `token`."""
    while True:
        head = stream.read(HEADER.size)
        assert len(head) == HEADER.size, "the writer process ended"
        message = marshal.loads(stream.read(HEADER.unpack(head)[0]))
        if message[1] == token:
            return message


def memory_kb(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as fh:
        fields = dict(line.split(":", 1) for line in fh)
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


def test_a_flood_of_new_names_leaves_the_writer_process_small(tmp_path: Path) -> None:
    """300,000 rows for as many names, as fast as the pipe takes them: the writer's queue and
    its spool fill, repeats cannot be told apart, and its peak RSS still grows by less than
    9 MB over its size when idle (with a 4 MB queue, 8,000-row batches unpacked at once and
    SQLite's default page cache it grew by 12-13 MB). Nothing is lost without being counted."""
    spool_bytes = 8 << 20  # fills: the repeats-first dropping is under way too
    cmd = [sys.executable, "-m", "agent.store.logproc", str(tmp_path / "hr.db")]
    cmd += [str(QUEUE_BYTES), str(tmp_path / "querylog.spool"), str(spool_bytes)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        proc.stdin.write(frame(("flush", 1)))
        proc.stdin.flush()
        read_status(proc.stdout, 1)  # started, its table made
        idle = memory_kb(proc.pid)["VmRSS"]
        peak = [0]
        done = threading.Event()

        def watch() -> None:  # VmHWM counts from the start; this counts from idle
            while not done.wait(0.02):
                peak[0] = max(peak[0], memory_kb(proc.pid)["VmRSS"])

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            for start in range(0, FLOOD, FRAME_ROWS):
                rows = [
                    (1_700_000_000.0 + i / 1000,
                     HEAD[:3] + (f"n{i}.flood{i % 97}.example",) + HEAD[4:] + (None,),
                     None, 0.2, False)
                    for i in range(start, start + FRAME_ROWS)
                ]  # fmt: skip
                proc.stdin.write(frame(("rows", rows), FRAME_ROWS))
            proc.stdin.write(frame(("flush", 2)))
            proc.stdin.flush()
            status = read_status(proc.stdout, 2)
        finally:
            done.set()
            watcher.join()
        written, dropped, rejected, kept = status[2], status[3], status[4], status[8]
        assert written + dropped + rejected + kept == FLOOD
        assert written >= 50_000 and rejected == 0
        grew = (max(peak[0], memory_kb(proc.pid)["VmRSS"]) - idle) / 1024
        assert grew < 9, f"the writer grew by {grew:.1f} MB (idle {idle / 1024:.1f} MB)"
        proc.stdin.write(frame(("stop",)))
        proc.stdin.close()
        assert proc.wait(30) == 0
    finally:
        proc.kill()
        proc.wait()


SQLITE_MEMORY = """
import ctypes, _sqlite3, marshal, sys
from pathlib import Path
from agent.store.logbatch import Batch
from agent.store.logsink import SqliteSink
lib = ctypes.CDLL(_sqlite3.__file__)  # its libsqlite3's symbols too
lib.sqlite3_memory_highwater.restype = ctypes.c_int64
head = ("192.168.1.20", "aa:bb", "Sam", "", "A", "allow", "", "", None, None)
sink = SqliteSink(Path(sys.argv[1]), 5.0)
for b in range(40):  # 200,000 rows for as many names, 5,000 a transaction
    frames = []
    for f in range(10):
        first = (b * 10 + f) * 500
        rows = [(1.7e9 + i, head[:3] + (f"n{i}.example",) + head[4:], None, 0.1, False)
                for i in range(first, first + 500)]
        frames.append((marshal.dumps(("rows", rows)), 500))
    assert sink.write(Batch(frames, print), None) == (0, "")
print(lib.sqlite3_memory_highwater(0))
"""


def test_the_writers_sqlite_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """Appending needs only the tails of the table and its indexes in SQLite's page cache: the
    writer's connection keeps well under SQLite's default 2 MB, however much it writes."""
    done = subprocess.run(
        [sys.executable, "-c", SQLITE_MEMORY, str(tmp_path / "hr.db")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) < 1_000_000
