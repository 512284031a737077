"""Safe search by DNS: which exact hostnames to answer with a CNAME to an engine's safe host.

The facts live in `blocklists/safesearch.toml`. `SafeSearch.target` is on the query path of
every allowed lookup a child makes, so it is one dict lookup: the tables are built per YouTube
level when the file is loaded. Names must already be lower-case with no trailing dot.

Search engines with a single `target` are rewritten whenever safe search is on. Engines with
`levels` (YouTube) follow the child's YouTube level: "strict", "moderate", or "off" (no rewrite).
`unsafe_engines` are search engines that cannot be forced safe; they match by suffix, and the
rules engine blocks them for children who must have safe search.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent.datafiles import parse_data, read_data, shipped
from agent.rules.catalog import AGE_EVIDENCE as EVIDENCE_LEVELS
from agent.rules.catalog import is_valid_domain

DEFAULT_PATH = shipped("safesearch.toml")

YOUTUBE_LEVELS: tuple[str, ...] = ("strict", "moderate", "off")
LEVELS_WITH_TARGET: tuple[str, ...] = ("strict", "moderate")
SCHEMA_VERSION = 1

_REQUIRED = ("name", "hostnames", "source", "evidence", "evidence_note")
_OPTIONAL = frozenset({"target", "levels", "target_ipv4", "target_ipv6", "levels_ipv4", "note"})
_ENGINE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class SafeSearchError(ValueError):
    """The safe-search file is unusable. `engine` and `field` say where, when known."""

    def __init__(self, message: str, *, engine: str | None = None, field: str | None = None):
        super().__init__(message)
        self.engine = engine
        self.field = field


@dataclass(frozen=True, slots=True)
class Engine:
    id: str
    name: str
    hostnames: frozenset[str]  # exact names
    target: str | None  # rewritten at every level; None when `levels` is used
    levels: Mapping[str, str]  # level -> target (YouTube); empty when `target` is set
    fallback_ips: Mapping[str, tuple[str, ...]]  # target -> published addresses (may be stale)
    source: str
    evidence: str
    evidence_note: str
    note: str = ""

    def target_for(self, level: str) -> str | None:
        return self.target if self.target is not None else self.levels.get(level)


@dataclass(frozen=True, slots=True)
class SafeSearch:
    engines: Mapping[str, Engine]
    unsafe_engines: frozenset[str]  # suffixes of engines with no enforceable safe mode
    fingerprint: str  # sha256 of the file's bytes
    _tables: Mapping[str, Mapping[str, tuple[str, str]]] = field(repr=False)

    def target(self, name: str, youtube_level: str) -> tuple[str, str] | None:
        """(engine id, CNAME target) if `name` must be rewritten at this YouTube level."""
        table = self._tables.get(youtube_level)
        if table is None:
            raise ValueError(f"unknown YouTube level {youtube_level!r}; expected {YOUTUBE_LEVELS}")
        return table.get(name)

    @property
    def names(self) -> frozenset[str]:
        """Every name this file can change an answer for: rewritten hosts (exact) and the
        engines with no safe mode (suffixes)."""
        rewritten = {host for table in self._tables.values() for host in table}
        return frozenset(rewritten) | self.unsafe_engines

    def hostnames_for(self, engine: str) -> frozenset[str]:
        return self.engines[engine].hostnames

    def unsafe_engine(self, name: str) -> str | None:
        """The listed suffix that `name` falls under, if it is a no-safe-search engine."""
        labels = name.split(".")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:])
            if suffix in self.unsafe_engines:
                return suffix
        return None

    def fallback_ips(self, target: str) -> tuple[str, ...]:
        """Addresses published for a target name, for when it cannot be resolved."""
        for engine in self.engines.values():
            if target in engine.fallback_ips:
                return engine.fallback_ips[target]
        return ()


def load_safesearch(path: Path | None = None) -> SafeSearch:
    path = path or DEFAULT_PATH
    data = read_data(path, "the safe-search file", SafeSearchError)
    return parse_safesearch(data, source=str(path))


def parse_safesearch(data: bytes, source: str = "safesearch.toml") -> SafeSearch:
    raw = parse_data(data, source, SCHEMA_VERSION, SafeSearchError)
    tables = raw.get("engines")
    if not isinstance(tables, dict) or not tables:
        raise SafeSearchError(f"{source}: no [engines.<id>] tables", field="engines")
    engines = {eid: _parse_engine(eid, t, source) for eid, t in tables.items()}
    owners = _check_unique_hostnames(engines, source)
    unsafe = _parse_unsafe(raw.get("unsafe_engines", {}), source)
    safe = SafeSearch(
        engines=MappingProxyType(engines),
        unsafe_engines=unsafe,
        fingerprint=hashlib.sha256(data).hexdigest(),
        _tables=_build_tables(engines),
    )
    for host, eid in owners.items():
        if safe.unsafe_engine(host):
            raise SafeSearchError(
                f"{source}: {host!r} is rewritten for {eid!r} and also listed as unsafe",
                engine=eid,
                field="unsafe_engines",
            )
    return safe


Fail = Callable[[str, str], SafeSearchError]


def _parse_engine(eid: str, table: Any, source: str) -> Engine:
    def fail(fld: str, problem: str) -> SafeSearchError:
        message = f"{source}: engine {eid!r}, field {fld!r}: {problem}"
        return SafeSearchError(message, engine=eid, field=fld)

    if not _ENGINE_ID.match(eid) or not isinstance(table, dict):
        raise fail("id", "engine ids are lower-case words and each must be a table")
    for fld in _REQUIRED:
        if fld not in table:
            raise fail(fld, "missing")
    unknown = sorted(set(table) - set(_REQUIRED) - _OPTIONAL)
    if unknown:
        raise fail(unknown[0], "unknown field")
    if ("target" in table) == ("levels" in table):
        raise fail("target", "give exactly one of 'target' or 'levels'")
    if table["evidence"] not in EVIDENCE_LEVELS:
        raise fail("evidence", f"must be one of {', '.join(EVIDENCE_LEVELS)}")
    target = _name(table["target"], "target", fail) if "target" in table else None
    levels = _levels(table.get("levels", {}), fail)
    return Engine(
        id=eid,
        name=_text(table, "name", fail),
        hostnames=_hostnames(table["hostnames"], fail),
        target=target,
        levels=MappingProxyType(levels),
        fallback_ips=MappingProxyType(_fallback_ips(table, target, levels, fail)),
        source=_text(table, "source", fail),
        evidence=table["evidence"],
        evidence_note=_text(table, "evidence_note", fail),
        note=_text(table, "note", fail) if "note" in table else "",
    )


def _text(table: dict[str, Any], fld: str, fail: Fail) -> str:
    value = table[fld]
    if not isinstance(value, str) or not value.strip():
        raise fail(fld, "must be non-empty text")
    return value


def _name(value: Any, fld: str, fail: Fail) -> str:
    if not is_valid_domain(value):
        raise fail(fld, f"bad hostname {value!r} (lower-case, no trailing dot)")
    return value


def _hostnames(value: Any, fail: Fail) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise fail("hostnames", "must be a non-empty list")
    names = [_name(v, "hostnames", fail) for v in value]
    if len(set(names)) != len(names):
        raise fail("hostnames", "a hostname is listed twice")
    return frozenset(names)


def _levels(value: Any, fail: Fail) -> dict[str, str]:
    if not isinstance(value, dict):
        raise fail("levels", "must be a table of level = target")
    for level in value:
        if level not in LEVELS_WITH_TARGET:
            raise fail("levels", f"unknown level {level!r}; expected {LEVELS_WITH_TARGET}")
    return {level: _name(t, "levels", fail) for level, t in value.items()}


def _fallback_ips(
    table: dict[str, Any], target: str | None, levels: dict[str, str], fail: Fail
) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    if target is not None:
        ips = [*table.get("target_ipv4", []), *table.get("target_ipv6", [])]
        out[target] = _ips(ips, "target_ipv4", fail)
    elif "target_ipv4" in table or "target_ipv6" in table:
        raise fail("target_ipv4", "only for engines with a single 'target'")
    for level, ips in table.get("levels_ipv4", {}).items():
        if level not in levels:
            raise fail("levels_ipv4", f"no target for level {level!r}")
        out[levels[level]] = _ips(ips, "levels_ipv4", fail)
    return {t: ips for t, ips in out.items() if ips}


def _ips(values: Any, fld: str, fail: Fail) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise fail(fld, "must be a list of IP addresses")
    try:
        return tuple(str(ipaddress.ip_address(v)) for v in values)
    except ValueError as exc:
        raise fail(fld, str(exc)) from exc


def _check_unique_hostnames(engines: Mapping[str, Engine], source: str) -> dict[str, str]:
    owners: dict[str, str] = {}
    for engine in engines.values():
        for host in engine.hostnames:
            if host in owners:
                raise SafeSearchError(
                    f"{source}: {host!r} is listed for both {owners[host]!r} and {engine.id!r}",
                    engine=engine.id,
                    field="hostnames",
                )
            owners[host] = engine.id
    return owners


def _parse_unsafe(table: Any, source: str) -> frozenset[str]:
    domains = table.get("domains", []) if isinstance(table, dict) else None
    if not isinstance(domains, list) or not all(is_valid_domain(d) for d in domains):
        raise SafeSearchError(
            f"{source}: [unsafe_engines] domains must be a list of lower-case domain names",
            field="unsafe_engines",
        )
    return frozenset(domains)


def _build_tables(engines: Mapping[str, Engine]) -> Mapping[str, Mapping[str, tuple[str, str]]]:
    tables: dict[str, Mapping[str, tuple[str, str]]] = {}
    for level in YOUTUBE_LEVELS:
        table: dict[str, tuple[str, str]] = {}
        for engine in engines.values():
            target = engine.target_for(level)
            if target is not None:
                table.update({host: (engine.id, target) for host in engine.hostnames})
        tables[level] = table  # a plain dict: the fastest lookup; never handed out
    return MappingProxyType(tables)
