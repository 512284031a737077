"""A batch of query-log rows stays as its frames and is unpacked one frame at a time while it is
written: the writer's memory holds one frame's rows, not a batch's."""

from __future__ import annotations

import marshal
import sqlite3
import tracemalloc
from pathlib import Path

from agent.store.logbatch import Batch, frame_rows
from agent.store.logsink import SqliteSink
from agent.store.logwriter import QueryLogWriter, pack

HEAD = ("192.168.1.20", "aa:bb:cc:dd:ee:ff", "Sam", "", "A", "block", "list:adult", "", "adult")


def dns_row(i: int) -> tuple:
    """A row as the DNS server hands it over, each for another name (a flood of blocked ones)."""
    head = HEAD[:3] + (f"n{i}.flood{i % 97}.example",) + HEAD[4:] + (None,)
    return (1_700_000_000.0 + i / 1000, head, None, 0.2, False)


def frames(count: int, rows: int) -> list[tuple[bytes, int]]:
    return [
        (marshal.dumps(("rows", [dns_row(f * rows + i) for i in range(rows)])), rows)
        for f in range(count)
    ]


def peak_while(fn) -> int:  # noqa: ANN001
    """Bytes Python allocated at most while `fn` ran, above what was allocated before."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


def test_writing_a_batch_unpacks_one_frame_at_a_time(tmp_path: Path) -> None:
    """10,000 rows for as many names in 20 frames of 500, one transaction: written, the batch
    costs a fraction of what it costs unpacked whole (as the writer did before: ~4 MB)."""
    sink = SqliteSink(tmp_path / "hr.db", 5.0)
    assert sink.write([], None) == (0, "")  # the table, the connection: not what is measured
    batch = Batch(frames(20, 500), lambda rows: None)
    whole = peak_while(lambda: list(batch))
    written = peak_while(lambda: sink.write(batch, None))
    sink.close()
    assert whole > 2_000_000, "the rows unpacked at once are the measure"
    assert written < whole / 4, f"{written:,} bytes to write, {whole:,} unpacked at once"
    with sqlite3.connect(tmp_path / "hr.db") as conn:
        assert conn.execute("SELECT count(*), max(name) FROM query_log").fetchone() == (
            10_000,
            "n9999.flood8.example",
        )


def test_a_frame_that_cannot_be_read_is_told_once_however_often_the_batch_is_read() -> None:
    told: list[int] = []
    good = frames(2, 3)
    batch = Batch([good[0], (b"\xff not marshal", 7), good[1]], told.append)
    assert len(batch) == 13, "the frames' counts until it has been read"
    first = list(batch)
    assert list(batch) == first and len(first) == 6
    assert told == [7] and len(batch) == 6


def test_rows_that_are_not_rows_are_refused_alone_and_the_rest_written(tmp_path: Path) -> None:
    """A frame holding things that are not rows (a damaged spool, a bug): each is rejected by
    the database alone; the rows beside them are written."""
    body = marshal.dumps(("rows", [dns_row(1), 5, (1.0, "short"), dns_row(2)]))
    assert len(list(frame_rows(body))) == 4
    writer = QueryLogWriter(tmp_path / "hr.db")
    writer.submit_frame(body, 4)
    writer.submit_frame(pack([dns_row(3)]), 1)
    writer.start()
    assert writer.flush(10)
    assert writer.stop()
    assert (writer.written, writer.rejected) == (3, 2)
