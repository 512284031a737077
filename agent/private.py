"""Files and folders that hold family data are made readable by HouseRules alone.

On a Pi the systemd unit's UMask keeps them private; `make run` and a parent's own shell may
have a looser umask, so the database, backups and exports are created 0600 and the data folder
0700 here, whatever the umask. Folders that already exist keep the mode they have.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700


def private_folder(path: Path) -> None:
    """`path` and its missing parents, the new ones 0700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=FOLDER_MODE)
            os.chmod(folder, FOLDER_MODE)  # mkdir's mode is masked by the umask
    path.mkdir(parents=True, exist_ok=True)  # raises as mkdir does when a file is in the way


def private_file(path: Path) -> Path:
    """`path` made 0600 before anything is written to it (created empty if missing)."""
    private_folder(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path
