"""The data files HouseRules ships (the app catalogue, safe search, the proxy's path rules):
read, parsed as TOML and checked for their schema version, with one kind of error for each
file and a message that names the file and the problem."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

MakeError = Callable[[str], Exception]


def shipped_dir() -> Path:
    """The folder of data files installed with the package (`blocklists/` in the source tree,
    mapped to the package `agent.blocklists`), wherever the package was installed."""
    return Path(str(resources.files("agent.blocklists")))


def shipped(name: str) -> Path:
    """One shipped data file, by name (`apps.toml`, `safesearch.toml`, `bypass.txt`...)."""
    return shipped_dir() / name


def read_data(path: Path, what: str, error: MakeError) -> bytes:
    """The file's bytes; `error` ("{path}: cannot read {what}: ...") if it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from exc


def parse_data(
    data: bytes, source: str, schema_version: int, error: MakeError, *, required: bool = False
) -> dict[str, Any]:
    """The TOML document, once its `[meta] schema_version` is the one this code reads (taken as
    that version when the file leaves it out, unless `required`)."""
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{source}: not valid TOML: {exc}") from exc
    meta = raw.get("meta", {})
    default = None if required else schema_version
    version = meta.get("schema_version", default) if isinstance(meta, dict) else None
    if version != schema_version:
        raise error(f"{source}: schema_version {version!r} is not {schema_version}")
    return raw
