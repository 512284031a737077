"""Path rules: one part of an allowed app (YouTube Shorts), found by host and path.

The facts live in `blocklists/paths.toml` (the file documents its fields); `[proxy]
block_paths` switches rules on. The addon asks `agent.rules.decide` first and consults these
only for what the house rules allow, so a path rule can only narrow an answer, never widen one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.datafiles import parse_data, read_data, shipped
from agent.rules.catalog import AGE_EVIDENCE, is_valid_domain
from agent.rules.household import match_suffix

DEFAULT_PATH = shipped("paths.toml")
SCHEMA_VERSION = 1
FIELDS = ("id", "app", "name", "hosts", "prefixes", "why", "source", "evidence")
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class PathRulesError(ValueError):
    """The path rules file is unusable; the message names the rule and the field."""


@dataclass(frozen=True, slots=True)
class PathRule:
    id: str
    app: str  # the app catalogue's id
    name: str
    hosts: frozenset[str]  # suffixes
    prefixes: tuple[str, ...]
    why: str
    source: str
    evidence: str

    def covers(self, host: str, path: str) -> bool:
        if match_suffix(host, self.hosts) is None:
            return False
        return any(path == p or path.startswith(p + "/") for p in self.prefixes)


@dataclass(frozen=True)
class PathRules:
    rules: tuple[PathRule, ...]

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.rules)

    def get(self, rule_id: str) -> PathRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def enabled(self, ids: Iterable[str]) -> PathRules:
        """Only the rules switched on; `PathRulesError` names an id that does not exist."""
        wanted = tuple(ids)
        unknown = sorted(set(wanted) - self.ids)
        if unknown:
            known = ", ".join(sorted(self.ids)) or "none"
            raise PathRulesError(f"unknown path rule {unknown[0]!r} (known: {known})")
        return PathRules(tuple(r for r in self.rules if r.id in wanted))

    def match(self, host: str, path: str) -> PathRule | None:
        """The first rule covering this URL. `path` is without the query string."""
        for rule in self.rules:
            if rule.covers(host, path):
                return rule
        return None


def load_path_rules(path: Path | None = None) -> PathRules:
    path = path or DEFAULT_PATH
    return parse_path_rules(read_data(path, "the path rules", PathRulesError), str(path))


@functools.cache
def shipped_names() -> dict[str, str]:
    """The shipped path rules' names by id ("youtube-shorts" -> "YouTube Shorts"), for the
    words a parent reads about a path rule's blocks. Empty if the file cannot be read."""
    try:
        return {r.id: r.name for r in load_path_rules().rules}
    except PathRulesError:
        return {}


def parse_path_rules(data: bytes, source: str = "paths.toml") -> PathRules:
    raw = parse_data(data, source, SCHEMA_VERSION, PathRulesError, required=True)
    entries = raw.get("paths", [])
    if not isinstance(entries, list):
        raise PathRulesError(f"{source}: [[paths]] must be a list of tables")
    rules = [_rule(entry, i, source) for i, entry in enumerate(entries)]
    ids = [r.id for r in rules]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise PathRulesError(f"{source}: path rule {twice[0]!r}: id: used twice")
    return PathRules(tuple(rules))


def _rule(entry: Any, position: int, source: str) -> PathRule:
    where = f"{source}: paths[{position}]"
    if not isinstance(entry, dict):
        raise PathRulesError(f"{where}: must be a table")
    if isinstance(entry.get("id"), str):
        where = f"{source}: path rule {entry['id']!r}"

    def fail(field: str, problem: str) -> PathRulesError:
        return PathRulesError(f"{where}: {field}: {problem}")

    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise fail(unknown[0], "unknown field")
    for field in ("id", "app", "name", "why", "source", "evidence"):
        if not isinstance(entry.get(field), str) or not entry[field].strip():
            raise fail(field, "is required (a non-empty string)")
    if not _ID.match(entry["id"]) or not _ID.match(entry["app"]):
        raise fail("id", "ids are lower-case letters, digits and hyphens")
    if entry["evidence"] not in AGE_EVIDENCE:
        raise fail("evidence", f"must be one of {', '.join(AGE_EVIDENCE)}")
    hosts = entry.get("hosts")
    if not isinstance(hosts, list) or not hosts or not all(is_valid_domain(h) for h in hosts):
        raise fail("hosts", "must be a non-empty list of lower-case domain names")
    prefixes = entry.get("prefixes")
    if not isinstance(prefixes, list) or not prefixes:
        raise fail("prefixes", "must be a non-empty list of paths")
    for p in prefixes:
        if not isinstance(p, str) or not p.startswith("/") or p.endswith("/") or "?" in p:
            raise fail("prefixes", f"{p!r}: a path starts with / and has no / or ? at the end")
    return PathRule(
        entry["id"],
        entry["app"],
        entry["name"].strip(),
        frozenset(hosts),
        tuple(prefixes),
        entry["why"].strip(),
        entry["source"].strip(),
        entry["evidence"],
    )
