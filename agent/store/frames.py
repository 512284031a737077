"""Framing for the pipe between the DNS process and the query-log writer process.

A frame is an 8-byte header, the body's length and how many query-log rows it carries (both
4-byte big-endian), then the body: a `marshal`ed tuple. Quick to make, and nothing but plain
values can travel (no objects, so no code runs when a frame is read). The row count lets the
writer queue a frame of rows as the bytes it came in (bounded in bytes, unpacked only when
written) and spool it to disk as it is.
"""

from __future__ import annotations

import marshal
import struct
from typing import BinaryIO

HEADER = struct.Struct(">II")


def read_raw(stream: BinaryIO) -> tuple[int, bytes] | None:
    """(rows, body) of the next frame; None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    size, rows = HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return rows, body


def read_frame(stream: BinaryIO) -> tuple | None:
    got = read_raw(stream)
    return None if got is None else marshal.loads(got[1])


def encode_frame(message: tuple, rows: int = 0) -> tuple[bytes, bytes]:
    """(header, body): written one after the other, never joined (that would copy the body)."""
    body = marshal.dumps(message)
    return HEADER.pack(len(body), rows), body


def write_frame(stream: BinaryIO, message: tuple) -> None:
    header, body = encode_frame(message)
    stream.write(header)
    stream.write(body)
    stream.flush()
