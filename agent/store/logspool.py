"""Query-log rows kept on local disk while the database cannot take them.

The writer process (`agent.store.logproc`) holds rows in memory up to a bound in bytes; past
it, while the database is away, frames (the bodies the DNS process sent, as they came) are
appended here, up to `limit` bytes, and written to the database in order once it is back.
Past the limit frames are refused and their rows counted as dropped by the caller.

The file starts with a header: how far it has been written to the database (8 bytes), so a
writer that is stopped or killed mid-way and started again does not send a frame twice. Frames
are a 4-byte length, a 4-byte count of rows and the body. Nothing is fsynced: a power cut may
cost the last frames, as it may cost the last commits (see `agent.store.sqlite`), and the SD
card is spared.
"""

from __future__ import annotations

import os
import struct
from contextlib import suppress
from pathlib import Path

HEADER = struct.Struct(">Q")
LENGTH = struct.Struct(">II")  # a frame's length and its rows


class Spool:
    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit = Path(path), limit
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        size = os.fstat(self._fd).st_size
        if size < HEADER.size:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, HEADER.pack(HEADER.size), 0)
            size = HEADER.size
        (start,) = HEADER.unpack(os.pread(self._fd, HEADER.size, 0))
        self._read, self._end = min(max(start, HEADER.size), size), size
        self.leftover_end = self._end  # frames before this were spooled by an earlier process

    @property
    def waiting(self) -> int:
        """Bytes waiting to be written to the database."""
        return self._end - self._read

    @property
    def used(self) -> int:
        return self._end - HEADER.size

    def append(self, body: bytes, rows: int) -> bool:
        """Keep one frame; False (and nothing kept) if it would pass the limit."""
        if self.used + LENGTH.size + len(body) > self.limit:
            return False
        try:
            written = os.pwrite(self._fd, LENGTH.pack(len(body), rows) + body, self._end)
        except OSError:  # the disk is full too: the caller counts the rows as dropped
            return False
        if written < LENGTH.size + len(body):
            return False  # a torn frame past `_end`: the next append writes over it
        self._end += LENGTH.size + len(body)
        return True

    def peek(self, rows: int = 1) -> tuple[list[tuple[bytes, int]], int, bool] | None:
        """The oldest waiting frames, about `rows` rows of them: ((body, rows) of each, the
        offset after them, whether an earlier process spooled them); None when none waits.
        `advance(end)` once they are in the database."""
        leftover = self._read < self.leftover_end
        stop = self.leftover_end if leftover else self._end  # never both kinds in one batch
        bodies: list[tuple[bytes, int]] = []
        at, taken = self._read, 0
        while at < stop and (not bodies or taken < rows):
            head = os.pread(self._fd, LENGTH.size, at)
            if len(head) < LENGTH.size:
                break
            size, count = LENGTH.unpack(head)
            body = os.pread(self._fd, min(size, stop - at), at + LENGTH.size)
            if len(body) < size or at + LENGTH.size + size > stop:
                break  # a torn frame at the end (a crash while writing it): nothing after it
            bodies.append((body, count))
            at, taken = at + LENGTH.size + size, taken + count
        if not bodies:
            if self._read < stop:
                self.advance(stop)  # only a torn frame was left
            return None
        return bodies, at, leftover

    def advance(self, end: int) -> None:
        self._read = end
        if self._read >= self._end:  # everything is in the database: start the file again
            with suppress(OSError):
                os.ftruncate(self._fd, HEADER.size)
            self._read = self._end = self.leftover_end = HEADER.size
        with suppress(OSError):  # at worst a restarted writer sends these frames again
            os.pwrite(self._fd, HEADER.pack(self._read), 0)

    def close(self) -> None:
        os.close(self._fd)
