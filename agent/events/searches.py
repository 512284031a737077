"""A search a child made, as the proxy read it from a results page: shared by the proxy and
the worrying-search events it raises."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Search:
    engine: str  # the safe-search data's engine id
    engine_name: str
    terms: str
