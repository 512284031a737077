"""The app catalogue: which apps children use, the domains they run on and what they allow.

The facts live in `blocklists/apps.toml`; this module loads them into an immutable `Catalog`
and refuses a file it cannot trust, naming the app and the field at fault. Domains are DNS
suffixes: "discord.com" covers cdn.discord.com. A domain may belong to more than one app
(shared infrastructure such as youtubekids.com, listed under youtube and youtube-kids).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from agent.datafiles import parse_data, read_data, shipped

DEFAULT_PATH = shipped("apps.toml")

# The vocabulary the rules engine and the dashboard rely on; the data file must keep to it.
CATEGORIES: tuple[str, ...] = (
    "social",
    "messaging",
    "video-chat",
    "random-video-chat",
    "live-streaming",
    "gaming",
    "game-chat",
    "video",
    "dating",
    "anonymous",
    "photo-sharing",
    "ai-chat",
    "search",
    "vpn-proxy",
)
FLAGS: frozenset[str] = frozenset(
    {
        "chat_with_strangers",
        "video_chat",
        "live_streaming",
        "disappearing_messages",
        "location_sharing",
        "anonymous",
    }
)
AGE_EVIDENCE: tuple[str, ...] = (
    "official-page",
    "secondary-source",
    "unverified-general-knowledge",
)
STATUSES: tuple[str, ...] = ("active", "closed")

REQUIRED_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "category",
    "status",
    "minimum_age",
    "age_source",
    "age_evidence",
    "age_note",
    "flags",
    "domains",
    "domains_source",
)
OPTIONAL_FIELDS: frozenset[str] = frozenset({"dns_action", "help_url", "notes"})
MAX_AGE = 21
SCHEMA_VERSION = 1

_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_URL = re.compile(r"^https?://[^\s/]+\.[^\s/]+(?:/\S*)?$")


class CatalogError(ValueError):
    """The catalogue file is unusable. `app_id` and `field` say where, when known."""

    def __init__(self, message: str, *, app_id: str | None = None, field: str | None = None):
        super().__init__(message)
        self.app_id = app_id
        self.field = field


@dataclass(frozen=True, slots=True)
class App:
    id: str
    name: str
    category: str
    minimum_age: int  # 0 = the service sets no fixed minimum
    flags: frozenset[str]
    domains: tuple[str, ...]  # DNS suffixes
    age_source: str
    age_evidence: str
    age_note: str
    help_url: str | None
    dns_nxdomain: bool  # answer NXDOMAIN rather than a sinkhole address (Private Relay)
    status: str
    notes: str = ""

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Catalog:
    apps: Mapping[str, App]  # read-only, in file order
    fingerprint: str  # sha256 of the file's bytes: a changed catalogue means recompile

    def get(self, app_id: str) -> App | None:
        return self.apps.get(app_id)

    def __len__(self) -> int:
        return len(self.apps)

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories that hold at least one app, in the canonical order."""
        used = {app.category for app in self.apps.values()}
        return tuple(c for c in CATEGORIES if c in used)

    def by_category(self) -> dict[str, list[App]]:
        grouped: dict[str, list[App]] = {c: [] for c in self.categories}
        for app in self.apps.values():
            grouped[app.category].append(app)
        return grouped

    def app_ids_with_flag(self, flag: str) -> frozenset[str]:
        if flag not in FLAGS:
            raise ValueError(f"unknown flag {flag!r}; expected one of {sorted(FLAGS)}")
        return frozenset(a.id for a in self.apps.values() if flag in a.flags)

    def index_entries(self) -> Iterator[tuple[str, str, str, str]]:
        """(domain, "apps", category, app id) for every domain of every app, for the DNS index."""
        for app in self.apps.values():
            for domain in app.domains:
                yield (domain, "apps", app.category, app.id)


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and check the catalogue; `CatalogError` if anything is wrong."""
    path = path or DEFAULT_PATH
    return parse_catalog(read_data(path, "the app catalogue", CatalogError), source=str(path))


def parse_catalog(data: bytes, source: str = "apps.toml") -> Catalog:
    raw = parse_data(data, source, SCHEMA_VERSION, CatalogError)
    entries = raw.get("apps")
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"{source}: no [[apps]] entries", field="apps")
    apps: dict[str, App] = {}
    for position, entry in enumerate(entries, start=1):
        app = _parse_app(entry, position, source)
        if app.id in apps:
            raise CatalogError(f"{source}: app {app.id!r}: duplicate id", app_id=app.id, field="id")
        apps[app.id] = app
    return Catalog(MappingProxyType(apps), hashlib.sha256(data).hexdigest())


Fail = Callable[[str, str], CatalogError]  # (field, problem) -> an error naming the app


def _parse_app(entry: Any, position: int, source: str) -> App:
    label = f"app #{position}"
    if not isinstance(entry, dict):
        raise CatalogError(f"{source}: {label}: must be a table")
    app_id = entry.get("id")
    if isinstance(app_id, str) and _ID.match(app_id):
        label = f"app {app_id!r}"
    else:
        app_id = None
        if isinstance(entry.get("name"), str):
            label = f"{label} ({entry['name']!r})"

    def fail(fld: str, problem: str) -> CatalogError:
        message = f"{source}: {label}, field {fld!r}: {problem}"
        return CatalogError(message, app_id=app_id, field=fld)

    _check_shape(entry, fail)
    return App(
        id=entry["id"],
        name=_text(entry, "name", fail),
        category=entry["category"],
        minimum_age=_age(entry, fail),
        flags=_flags(entry, fail),
        domains=_domains(entry, fail),
        age_source=_url(entry, "age_source", fail),
        age_evidence=entry["age_evidence"],
        age_note=_text(entry, "age_note", fail),
        help_url=_url(entry, "help_url", fail) if "help_url" in entry else None,
        dns_nxdomain=_dns_nxdomain(entry, fail),
        status=entry["status"],
        notes=_text(entry, "notes", fail) if "notes" in entry else "",
    )


def _check_shape(entry: dict[str, Any], fail: Fail) -> None:
    for fld in REQUIRED_FIELDS:
        if fld not in entry:
            raise fail(fld, "missing")
    unknown = sorted(set(entry) - set(REQUIRED_FIELDS) - OPTIONAL_FIELDS)
    if unknown:
        raise fail(unknown[0], "unknown field")
    if not isinstance(entry["id"], str) or not _ID.match(entry["id"]):
        raise fail("id", f"must be lower-case letters, digits and hyphens, got {entry['id']!r}")
    _check_choice(entry, "category", CATEGORIES, fail)
    _check_choice(entry, "status", STATUSES, fail)
    _check_choice(entry, "age_evidence", AGE_EVIDENCE, fail)
    _text(entry, "domains_source", fail)


def _text(entry: dict[str, Any], fld: str, fail: Fail) -> str:
    value = entry[fld]
    if not isinstance(value, str) or not value.strip():
        raise fail(fld, "must be non-empty text")
    return value


def _check_choice(entry: dict[str, Any], fld: str, choices: tuple[str, ...], fail: Fail) -> None:
    if entry[fld] not in choices:
        raise fail(fld, f"unknown value {entry[fld]!r}; expected one of {', '.join(choices)}")


def _age(entry: dict[str, Any], fail: Fail) -> int:
    age = entry["minimum_age"]
    if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_AGE:
        raise fail("minimum_age", f"must be a whole number from 0 to {MAX_AGE}, got {age!r}")
    return age


def _url(entry: dict[str, Any], fld: str, fail: Fail) -> str:
    value = entry[fld]
    if not isinstance(value, str) or not _URL.match(value):
        raise fail(fld, f"must be an http(s) URL, got {value!r}")
    return value


def _flags(entry: dict[str, Any], fail: Fail) -> frozenset[str]:
    flags = entry["flags"]
    if not isinstance(flags, list):
        raise fail("flags", "must be a list")
    for flag in flags:
        if flag not in FLAGS:
            raise fail(
                "flags", f"unknown flag {flag!r}; expected some of {', '.join(sorted(FLAGS))}"
            )
    return frozenset(flags)


def _domains(entry: dict[str, Any], fail: Fail) -> tuple[str, ...]:
    domains = entry["domains"]
    if not isinstance(domains, list) or not domains:
        raise fail("domains", "must be a non-empty list")
    seen: set[str] = set()
    for domain in domains:
        if not is_valid_domain(domain):
            raise fail("domains", f"bad domain {domain!r} (lower-case name, no dots at the ends)")
        if domain in seen:
            raise fail("domains", f"{domain!r} is listed twice")
        seen.add(domain)
    return tuple(domains)


def _dns_nxdomain(entry: dict[str, Any], fail: Fail) -> bool:
    if "dns_action" not in entry:
        return False
    if entry["dns_action"] != "nxdomain":
        raise fail("dns_action", f"only 'nxdomain' is allowed, got {entry['dns_action']!r}")
    return True


def is_valid_domain(name: object) -> bool:
    """A lower-case DNS name without wildcards or end dots. One label is allowed: brand TLDs."""
    if not isinstance(name, str) or not 0 < len(name) <= 253:
        return False
    return all(_LABEL.match(label) for label in name.split("."))
