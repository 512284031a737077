"""Reading blocklist sources: list files on disk, and downloads kept as a cache.

`read_source` reads one configured source. URL sources are downloaded beside the compiled
index (`<compiled_dir>/../lists/<name>.txt`); a download that fails or does not look like a
list never replaces the cached copy, so `cached_copy` still finds the last good one.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from agent.config import BlocklistSource, Config
from agent.lists.parse import ListError, ParsedList, check, parse_file

DOWNLOAD_TIMEOUT = 60.0  # seconds without data before a download is abandoned
MAX_DOWNLOAD_BYTES = 200 * 1024 * 1024
USER_AGENT = "HouseRules/0.1 (home DNS filter)"


def read_file(path: Path, fmt: str | None, label: str, max_junk_ratio: float) -> ParsedList:
    """Parse and check a list file; a broken byte spoils one line, not the whole list."""
    try:
        parsed = parse_file(path, fmt)
    except OSError as exc:
        raise ListError(f"{label}: cannot read {path}: {exc.strerror or exc}") from exc
    return check(parsed, label, max_junk_ratio)


def lists_dir(cfg: Config) -> Path:
    return cfg.resolve(cfg.blocklists.compiled_dir).parent / "lists"


def _cache_path(source: BlocklistSource, cfg: Config) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", source.name)
    if safe != source.name:  # keep "a b" and "a_b" apart
        safe += "-" + hashlib.sha256(source.name.encode()).hexdigest()[:8]
    return lists_dir(cfg) / f"{safe}.txt"


def cached_copy(source: BlocklistSource, cfg: Config) -> Path | None:
    """The last good download of a URL source, if there is one."""
    if source.url is None:
        return None
    path = _cache_path(source, cfg)
    return path if path.is_file() else None


def read_source(source: BlocklistSource, cfg: Config) -> ParsedList:
    """Read a path source, or download a URL source and keep it as the new cached copy."""
    ratio = cfg.blocklists.max_junk_ratio
    if source.url is None:
        assert source.path is not None  # the config guarantees one of path or url
        return read_file(cfg.resolve(source.path), source.format, source.name, ratio)
    target = _cache_path(source, cfg)
    folder = target.parent
    label = f"{source.name} ({source.url})"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise ListError(f"{label}: cannot write to {folder}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            _download(source.url, out, label)
        parsed = read_file(Path(tmp), source.format, label, ratio)
        os.replace(tmp, target)
        return parsed
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download(url: str, out: BinaryIO, label: str) -> None:
    # imported here: urllib pulls in ssl (about 6 MB), which the DNS process never needs
    import http.client
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    total = 0
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response:
            while chunk := response.read(1 << 16):
                total += len(chunk)
                if total > MAX_DOWNLOAD_BYTES:
                    raise ListError(f"{label}: larger than {MAX_DOWNLOAD_BYTES >> 20} MB")
                out.write(chunk)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # urllib.error.URLError and socket timeouts are OSErrors; IncompleteRead is not
        reason = getattr(exc, "reason", None) or exc
        if isinstance(exc, urllib.error.HTTPError):
            reason = f"the server answered {exc.code} {exc.reason}"
        raise ListError(f"{label}: download failed: {reason}") from exc
