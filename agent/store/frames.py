"""Framing for the pipe between the DNS process and the query-log writer process.

A frame is a 4-byte big-endian length and a `marshal`ed tuple: quick to make, and nothing but
plain values can travel (no objects, so no code runs when a frame is read).
"""

from __future__ import annotations

import marshal
import struct
from typing import BinaryIO

LENGTH = struct.Struct(">I")


def read_frame(stream: BinaryIO) -> tuple | None:
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (size,) = LENGTH.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        return None
    return marshal.loads(body)


def encode_frame(message: tuple) -> bytes:
    body = marshal.dumps(message)
    return LENGTH.pack(len(body)) + body


def write_frame(stream: BinaryIO, message: tuple) -> None:
    stream.write(encode_frame(message))
    stream.flush()
