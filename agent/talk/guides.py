"""'What to do if...' guides for parents, with where to report and get help.

The guides live in `help.toml` beside this module (the file documents its fields). Each cites
the letters it draws on, checked against `letters.toml`; `format_guide` turns one into plain text
for the terminal.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from agent.talk.letters import CONTENT_DIR, ContentError, Letter, load_letters, read_toml

DEFAULT_PATH = CONTENT_DIR / "help.toml"
WIDTH = 88


@dataclass(frozen=True)
class Route:
    """Somewhere to report or get help: a phone number, a web address, or both."""

    id: str
    name: str
    when: str
    phone: str | None = None
    url: str | None = None
    contact: str | None = None
    source: str | None = None  # where its number is published, as a parent would check it

    @property
    def how(self) -> str:
        parts = []
        if self.phone:
            parts.append(f"call {self.phone}")
        if self.url:
            parts.append(self.url)
        if self.contact:
            parts.append(self.contact)
        return "; ".join(parts)


@dataclass(frozen=True)
class AppSteps:
    """How to block and report in one app, in plain words."""

    name: str
    steps: str
    help_url: str | None = None


@dataclass(frozen=True)
class Guide:
    id: str
    title: str
    summary: str
    steps: tuple[str, ...]
    avoid: tuple[str, ...]
    routes: tuple[Route, ...]
    sources: tuple[Letter, ...]
    apps: tuple[AppSteps, ...] = ()


@dataclass(frozen=True)
class HelpBook:
    guides: tuple[Guide, ...]
    routes: Mapping[str, Route]

    def get(self, topic: str) -> Guide:
        for g in self.guides:
            if g.id == topic:
                return g
        raise KeyError(topic)


def load_help(path: str | Path | None = None, letters_path: str | Path | None = None) -> HelpBook:
    """Load and check the guides; any mistake raises ContentError naming the guide and field."""
    path = Path(path) if path is not None else DEFAULT_PATH
    raw = read_toml(path)
    letters = load_letters(letters_path)
    routes = {rid: _route(str(path), rid, item) for rid, item in raw.get("routes", {}).items()}
    guides: list[Guide] = []
    for i, item in enumerate(raw.get("guides", [])):
        guide = _guide(str(path), i, item, routes, letters)
        if any(g.id == guide.id for g in guides):
            raise ContentError(f"{path}: guide {guide.id!r}: id: used twice")
        guides.append(guide)
    return HelpBook(tuple(guides), routes)


def _text(where: str, item: Any, key: str, required: bool = True) -> str | None:
    value = item.get(key) if isinstance(item, dict) else None
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ContentError(f"{where}: {key}: is required (a non-empty string)")
    return value.strip()


def _texts(where: str, item: dict[str, Any], key: str, required: bool = True) -> tuple[str, ...]:
    value = item.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ContentError(f"{where}: {key}: must be a list of non-empty strings")
    if required and not value:
        raise ContentError(f"{where}: {key}: needs at least one entry")
    return tuple(value)


def _route(source: str, rid: str, item: Any) -> Route:
    where = f"{source}: route {rid!r}"
    found = {k: _text(where, item, k, required=False) for k in ("phone", "url", "contact")}
    if not any(found.values()):
        raise ContentError(f"{where}: needs a phone, url or contact")
    source = _text(where, item, "source", required=False)
    return Route(
        rid,
        _text(where, item, "name") or "",
        _text(where, item, "when") or "",
        **found,
        source=source,
    )


def _guide(
    source: str,
    index: int,
    item: Any,
    routes: Mapping[str, Route],
    letters: Mapping[str, Letter],
) -> Guide:
    gid = _text(f"{source}: guides[{index}]", item, "id") or ""
    where = f"{source}: guide {gid!r}"
    route_ids = _texts(where, item, "routes")
    sources = _texts(where, item, "sources")
    for rid in route_ids:
        if rid not in routes:
            raise ContentError(f"{where}: routes: unknown route {rid!r}")
    for file in sources:
        if file not in letters:
            raise ContentError(f"{where}: sources: {file!r} is not in letters.toml")
    apps = tuple(
        AppSteps(
            _text(where, a, "name") or "",
            _text(where, a, "steps") or "",
            _text(where, a, "help_url", required=False),
        )
        for a in item.get("apps", [])
    )
    return Guide(
        id=gid,
        title=_text(where, item, "title") or "",
        summary=_text(where, item, "summary") or "",
        steps=_texts(where, item, "steps"),
        avoid=_texts(where, item, "avoid", required=False),
        routes=tuple(routes[r] for r in route_ids),
        sources=tuple(letters[f] for f in sources),
        apps=apps,
    )


@cache
def _default_book() -> HelpBook:
    return load_help()


def topics() -> list[str]:
    """The guide ids, in the order the file gives them."""
    return [g.id for g in _default_book().guides]


def guide(topic: str) -> Guide:
    """One guide by topic id; KeyError if there is none."""
    return _default_book().get(topic)


def _wrapped(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first, subsequent_indent=rest)


def format_guide(g: Guide) -> str:
    """The guide as plain text: steps, what not to do, apps, where to get help, sources."""
    lines = [g.title, "=" * len(g.title), *_wrapped(g.summary, "", ""), "", "What to do:"]
    for n, step in enumerate(g.steps, 1):
        lines += _wrapped(step, f"  {n}. ", "     ")
    if g.avoid:
        lines += ["", "Things to avoid:"]
        for item in g.avoid:
            lines += _wrapped(item, "  - ", "    ")
    for app in g.apps:
        lines += ["", f"{app.name}:", *_wrapped(app.steps, "  ", "  ")]
        if app.help_url:
            lines.append(f"  Help page: {app.help_url}")
    lines += ["", "Where to get help:"]
    for r in g.routes:
        lines += [f"  {r.name}: {r.how}", *_wrapped(r.when, "    When: ", "          ")]
        if r.source:
            lines += _wrapped(r.source, "    Source: ", "            ")
    lines += ["", "Based on:"]
    for letter in g.sources:
        lines += _wrapped(letter.citation, "  - ", "    ")
    return "\n".join(lines) + "\n"
