"""Search terms, read from the address of a search engine's results page.

Only the results page counts (what a child searched), not the suggestions a search box asks
for as each letter is typed. Which hosts belong to which engine comes from the safe-search data
(`blocklists/safesearch.toml`: every Google country site, Bing, DuckDuckGo, YouTube...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.events.searches import Search
from agent.rules.safesearch import SafeSearch

MAX_TERMS = 200  # characters kept: a search, not a document
# engine id -> (results page paths, the parameter holding the words)
RESULTS: dict[str, tuple[frozenset[str], str]] = {
    "google": (frozenset({"/search"}), "q"),
    "bing": (frozenset({"/search"}), "q"),
    "duckduckgo": (frozenset({"/", "/html", "/html/", "/lite", "/lite/"}), "q"),
    "youtube": (frozenset({"/results"}), "search_query"),
    "ecosia": (frozenset({"/search"}), "q"),
}


@dataclass(frozen=True)
class SearchEngines:
    hosts: Mapping[str, tuple[str, str]]  # host -> (engine id, engine name)

    def find(self, host: str, path: str, query: Mapping[str, str]) -> Search | None:
        """The search on this results page, or None (another page, or no words)."""
        engine = self.hosts.get(host)
        if engine is None:
            return None
        paths, param = RESULTS[engine[0]]
        if path not in paths:
            return None
        terms = tidy(query.get(param, ""))
        return Search(engine[0], engine[1], terms) if terms else None


def engines_from(safesearch: SafeSearch) -> SearchEngines:
    hosts = {}
    for engine in safesearch.engines.values():
        if engine.id in RESULTS:
            hosts.update({h: (engine.id, engine.name) for h in engine.hostnames})
    return SearchEngines(hosts)


def tidy(terms: str) -> str:
    return " ".join(terms.split())[:MAX_TERMS]
