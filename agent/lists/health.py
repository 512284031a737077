"""Whether the compiled index on disk is whole, for `doctor` and the dashboard's banner.

Checking sums every file (about 15 ms per 32 MB), so the answer is kept until a file of the
folder changes (by name, size, modification time or inode): a page that shows the banner costs
a few `stat` calls, not a read of the index.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from agent.lists.index import IndexDamaged, IndexLoadError, check_folder

Mark = tuple[tuple[str, int, int, int], ...]
_lock = threading.Lock()
_known: dict[Path, tuple[Mark, list[str]]] = {}


def _mark(directory: Path) -> Mark:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return ()
    marks = []
    for entry in entries:
        try:
            st = entry.stat()
        except OSError:
            continue
        marks.append((entry.name, st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(marks)


def damaged_files(directory: Path, *, cached: bool = True) -> list[str]:
    """The damaged files of the index in `directory` ("meta.json" stands for all of it when it
    is the damaged one); empty when it is whole, missing or from an older version (those are
    compiled again at start, not damage). `cached=False` sums the files whatever their marks
    say (a write within one clock tick of the last check keeps the modification time)."""
    directory = Path(directory)
    mark = _mark(directory)
    with _lock:
        known = _known.get(directory)
    if cached and known is not None and known[0] == mark:
        return list(known[1])
    try:
        found = check_folder(directory)
    except IndexDamaged:
        found = ["meta.json"]
    except IndexLoadError:
        found = []
    with _lock:
        _known[directory] = (mark, found)
    return list(found)
