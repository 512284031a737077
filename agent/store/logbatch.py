"""One transaction of query-log rows, kept as the frames they came in until they are written.

A batch of 5,000 rows unpacked at once is some 3 MB of tuples in the writer process (more when
every row asks for another name, as in a flood), on top of the queue of frames, and Python's
allocator keeps the high-water mark. So a batch stays as it was queued: frame bodies (bytes,
~100-150 a row) and lists of rows from `submit`. Iterating it unpacks one frame at a time and
hands the database one flat row at a time: `executemany` takes an iterator, and only one
frame's rows are ever unpacked. A batch can be iterated again (the database's turn is retried,
or its rows are written one by one to find a bad one); a frame that cannot be read is left out
and said once, however often the batch is iterated.
"""

from __future__ import annotations

import logging
import marshal
from collections.abc import Callable, Iterator

log = logging.getLogger("agent.store.querylog")

Chunk = list | tuple[bytes, int]  # rows from `submit`, or (frame body, its rows)
_BAD_FRAME = (ValueError, EOFError, TypeError, IndexError)


def flat_row(row: tuple) -> tuple:
    """A row in the query log's column order (`LogEntry`). The DNS server hands rows over as
    (ts, head, upstream, latency_ms, cached), `head` being the ten columns from client to app
    that every answer to one question shares: one small tuple a query on the DNS path, and
    marshal sends a shared head once per frame. Flat rows (the proxy's) pass as they are."""
    if len(row) == 5 and type(row[1]) is tuple:
        ts, head, upstream, latency_ms, cached = row
        return (ts, *head, upstream, latency_ms, cached)
    return row


def frame_rows(body: bytes) -> Iterator[tuple]:
    """The flat rows of one frame's body (`("rows", [row, ...])` marshalled), one at a time."""
    for r in marshal.loads(body)[1]:
        try:  # the DNS server's shape, unpacked without a call a row
            yield (r[0], *r[1], r[2], r[3], r[4]) if len(r) == 5 else r
        except TypeError:  # a malformed row: the database refuses it alone
            yield _as_row(r)


def _as_row(r: object) -> object:
    try:
        return flat_row(r)  # type: ignore[arg-type]
    except TypeError:  # not even a tuple: handed on as it is, for the database to refuse
        return r


def unpack(body: bytes) -> list[tuple]:
    """The flat rows of one frame's body, as a list."""
    return list(frame_rows(body))


class Batch:
    """The rows of one transaction, unpacked only while they are iterated.

    `len()` is the rows it holds: the frames' counts until it has been iterated through once,
    then the rows that were read (a frame that cannot be read holds none).
    """

    def __init__(self, chunks: list[Chunk], on_bad_frame: Callable[[int], None]) -> None:
        self.chunks = chunks
        self._size = sum(len(c) if type(c) is list else c[1] for c in chunks)  # type: ignore[misc]
        self._on_bad_frame = on_bad_frame  # called once per unreadable frame, with its rows

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[tuple]:
        read = 0
        for i, chunk in enumerate(self.chunks):
            if type(chunk) is list:
                read += len(chunk)
                yield from chunk
                continue
            body, rows = chunk  # type: ignore[misc]
            try:
                for row in frame_rows(body):
                    read += 1
                    yield row
            except _BAD_FRAME as exc:
                log.error(
                    "Query log: %d rows could not be read back (%s); they are left out", rows, exc
                )
                self.chunks[i] = []
                self._on_bad_frame(rows)
        self._size = read
