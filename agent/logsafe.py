"""Log lines nobody can forge: what a client sends is escaped before it reaches a log.

A DNS name is whatever bytes a device put in its query, CR and LF included, so a name logged
as it came could start a new, made-up line in the server's log. `escaped` writes control
characters (C0, DEL, C1, and the Unicode line, paragraph and direction marks) and the backslash
as visible escapes (`\\r`, `\\n`, `\\x1b`, `\\\\`, `\\u2028`), so one message is always one line.

`install()` makes every log record of the process escape its message this way (a record
factory, so it holds for every handler, ours or a library's); tracebacks keep their own lines.
"""

from __future__ import annotations

import logging

_NAMED = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", "\t": "\\t"}


def _escape_for(code: int) -> str:
    ch = chr(code)
    if ch in _NAMED:
        return _NAMED[ch]
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_CONTROLS = [*range(0x20), *range(0x7F, 0xA0), 0x5C, 0x2028, 0x2029, 0x200E, 0x200F, 0xFEFF]
_CONTROLS += [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE = {code: _escape_for(code) for code in _CONTROLS}


def escaped(text: object) -> str:
    """`text` as one printable line: control characters and backslashes escaped."""
    return str(text).translate(_TABLE)


class SafeRecord(logging.LogRecord):
    """A log record whose message is always one escaped line."""

    def getMessage(self) -> str:  # noqa: N802 (logging's name)
        return escaped(super().getMessage())


def install() -> None:
    """Escape every log message made in this process from now on."""
    logging.setLogRecordFactory(SafeRecord)
