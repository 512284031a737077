"""The immutable bundle the rules engine decides over, and the one reference that swaps it.

A new `Policy` is built off the query path whenever the lists, the household or the
neighbour table change, then swapped in whole: readers never see half an update.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agent.config import RulesConfig

if TYPE_CHECKING:
    from agent.lists.index import ListIndex
    from agent.rules.catalog import Catalog
    from agent.rules.household import Household
    from agent.rules.safesearch import SafeSearch


@dataclass(frozen=True)
class Policy:
    index: ListIndex
    household: Household | None = None
    catalog: Catalog | None = None
    safesearch: SafeSearch | None = None
    neighbours: Mapping[str, str] = field(default_factory=dict)  # client IP -> MAC address
    rules: RulesConfig = field(default_factory=RulesConfig)
    generation: int = 0


class PolicyHolder:
    """Holds the current policy. Reading `.current` is one attribute load: no lock."""

    def __init__(self, policy: Policy) -> None:
        self.current = policy
        self._write = threading.Lock()

    def update(self, **changes: Any) -> Policy:
        with self._write:
            old = self.current
            self.current = replace(old, generation=old.generation + 1, **changes)
            return self.current
