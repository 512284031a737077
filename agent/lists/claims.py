"""What the compiled lists say about a name: which categories, apps and lists claim it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Claims:
    categories: frozenset[str] = frozenset()
    apps: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()  # the list (source) names that claim the name
    matched: str = ""  # the most specific listed suffix that matched

    def __bool__(self) -> bool:
        return bool(self.categories or self.apps or self.sources)


NO_CLAIMS = Claims()
