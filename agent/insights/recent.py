"""A memo of the answers asked for most recently, bounded in entries.

Insights remembers what a name is (an app, a site, neither) and what local day and hour a
minute falls in: asked for every row, and slow to work out (the public suffix list: some 9,000
names a second). Remembered without a bound, a flood of new names (a device stuck in a loop, a
benchmark's million listed names) kept 100,000 of each, some 20 MB a kind, for good.

Two generations: answers go into the new one; when it is full it becomes the old one and the
one before is dropped. An answer found in the old one moves to the new, so what is in use
stays whatever the flood, and at most twice `size` answers are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
_MISSING = object()


class Recent(Generic[K, V]):
    __slots__ = ("size", "new", "old")

    def __init__(self, size: int) -> None:
        self.size = size
        self.new: dict[K, V] = {}  # read directly on the hot path: `recent.new[key]`
        self.old: dict[K, V] = {}

    def __len__(self) -> int:
        return len(self.new) + len(self.old)

    def get(self, key: K, compute: Callable[[K], V]) -> V:
        try:
            return self.new[key]
        except KeyError:
            return self.add(key, compute)

    def add(self, key: K, compute: Callable[[K], V]) -> V:
        """The answer for a key not in the new generation: from the old one, or computed."""
        found = self.old.pop(key, _MISSING)
        if found is _MISSING:
            found = compute(key)
        if len(self.new) >= self.size:
            self.old, self.new = self.new, {}
        self.new[key] = found  # type: ignore[assignment]
        return found  # type: ignore[return-value]
