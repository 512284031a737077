"""Query-log rows kept on local disk while the database cannot take them.

The writer process (`agent.store.logproc`) holds rows in memory up to a bound in bytes; past
it, while the database is away, frames (the bodies the DNS process sent, as they came) are
appended here, up to `limit` bytes, and written to the database in order once it is back.
Past the limit frames are refused and their rows counted as dropped by the caller.

The file starts with a header: how far it has been written to the database (8 bytes), so a
writer that is stopped or killed mid-way and started again does not send a frame twice. Frames
are a 4-byte length and the body. Nothing is fsynced: a power cut may cost the last frames, as
it may cost the last commits (see `agent.store.sqlite`), and the SD card is spared.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

HEADER = struct.Struct(">Q")
LENGTH = struct.Struct(">I")


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
        self.frames = 0  # frames waiting (those of this process; leftovers are not counted)

    @property
    def waiting(self) -> int:
        """Bytes waiting to be written to the database."""
        return self._end - self._read

    @property
    def used(self) -> int:
        return self._end - HEADER.size

    def append(self, body: bytes) -> bool:
        """Keep one frame; False (and nothing kept) if it would pass the limit."""
        if self.used + LENGTH.size + len(body) > self.limit:
            return False
        os.pwrite(self._fd, LENGTH.pack(len(body)) + body, self._end)
        self._end += LENGTH.size + len(body)
        self.frames += 1
        return True

    def peek(self) -> tuple[bytes, int, bool] | None:
        """The oldest waiting frame: (body, its end offset, whether an earlier process spooled
        it); None when none waits. `advance(end)` once it is in the database."""
        if self._read >= self._end:
            return None
        (size,) = LENGTH.unpack(os.pread(self._fd, LENGTH.size, self._read))
        body = os.pread(self._fd, size, self._read + LENGTH.size)
        end = self._read + LENGTH.size + size
        if len(body) < size or end > self._end:  # a torn frame at the end: nothing after it
            self._read = self._end
            return None
        return body, end, self._read < self.leftover_end

    def advance(self, end: int) -> None:
        if self._read >= self.leftover_end:
            self.frames -= 1
        self._read = end
        if self._read >= self._end:  # everything is in the database: start the file again
            os.ftruncate(self._fd, HEADER.size)
            self._read = self._end = self.leftover_end = HEADER.size
            self.frames = 0
        os.pwrite(self._fd, HEADER.pack(self._read), 0)

    def close(self) -> None:
        os.close(self._fd)
