"""What is really blocked for a category: which lists are loaded, how many names, how old.

Every place that names a category as blocked (a child's page, `explain`, `doctor`) asks here
first, so a parent is never told "adult sites are blocked" while no adult list has downloaded.
It reads the saved index's meta.json (written at each compile) and the downloaded copies'
times; it never compiles or downloads anything itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from agent.config import Config
from agent.lists.sources import cached_copy
from agent.rules.catalog import Catalog


@dataclass(frozen=True)
class CategoryStatus:
    category: str
    names: int  # names from the configured lists in the index now
    lists: tuple[str, ...]  # the configured lists of this category that are loaded
    missing: tuple[str, ...]  # configured lists of this category that are not (yet) loaded
    apps: int  # apps of this category in the app catalogue (always blocked with it)
    fetched: datetime | None  # when its newest downloaded list arrived (None: none downloaded)

    @property
    def blocked(self) -> bool:
        """Whether anything at all is blocked for this category."""
        return self.names > 0 or self.apps > 0

    def words(self, now: datetime) -> str:
        """A parent's words: "adult (84,102 sites, list updated today)" or why not."""
        name = self.category.replace("-", " ")
        if not self.blocked:
            return f"{name}: not blocked yet, the list has not downloaded"
        parts = []
        if self.names:
            parts.append(f"{self.names:,} sites")
        if self.apps:
            parts.append(f"{self.apps} app{'s' if self.apps != 1 else ''}")
        if self.fetched is not None:
            parts.append(f"list updated {_age(self.fetched, now)}")
        elif self.names:
            parts.append("the lists that come with HouseRules")
        if self.missing:
            parts.append(f"{', '.join(self.missing)} not downloaded yet")
        return f"{name} ({'; '.join(parts)})"


def _age(then: datetime, now: datetime) -> str:
    days = (now.astimezone(UTC).date() - then.astimezone(UTC).date()).days
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def index_counts(cfg: Config) -> dict[str, int]:
    """List name -> names it holds in the saved index ({} when there is no readable index)."""
    meta = Path(cfg.resolve(cfg.blocklists.compiled_dir)) / "meta.json"
    try:
        found = json.loads(meta.read_text("utf-8")).get("sources", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return {str(k): int(v) for k, v in found.items()} if isinstance(found, dict) else {}


def category_status(cfg: Config, catalog: Catalog, category: str) -> CategoryStatus:
    counts = index_counts(cfg)
    sources = [s for s in cfg.blocklists.sources if s.category == category]
    loaded = [s for s in sources if counts.get(s.name, 0) > 0]
    fetched = [
        datetime.fromtimestamp(copy.stat().st_mtime, UTC)
        for s in loaded
        if (copy := cached_copy(s, cfg)) is not None
    ]
    return CategoryStatus(
        category=category,
        names=sum(counts.get(s.name, 0) for s in loaded),
        lists=tuple(s.name for s in loaded),
        missing=tuple(s.name for s in sources if s not in loaded),
        apps=sum(1 for app in catalog.apps.values() if app.category == category),
        fetched=max(fetched) if fetched else None,
    )


def statuses(cfg: Config, catalog: Catalog, categories: tuple[str, ...]) -> list[CategoryStatus]:
    return [category_status(cfg, catalog, c) for c in categories]


def list_ages(cfg: Config) -> dict[str, datetime]:
    """List name -> when its current copy arrived: the last good download of a URL list, the
    file's last change for a local one (lists with no copy yet are left out)."""
    out: dict[str, datetime] = {}
    for source in cfg.blocklists.sources:
        path = cached_copy(source, cfg) if source.url is not None else source.path
        try:
            stamp = Path(cfg.resolve(path)).stat().st_mtime if path is not None else None
        except OSError:
            stamp = None
        if stamp is not None:
            out[source.name] = datetime.fromtimestamp(stamp, UTC)
    return out
