"""Which query-log rows to keep when some must be dropped: repeats go first.

A flood of lookups must not hide a visit. So once the log is short of room, a row is kept
only if it is the first this minute for its (client, name); repeats are dropped (and counted).
Every distinct (client, name) still gets at least one row a minute, whatever the load.

Rows come in two shapes (`agent.store.logpipe.flat_row`): the DNS server's
(ts, head, upstream, latency_ms, cached) with head = (client, device, child, name, ...), and
flat rows (ts, client, device, child, name, ...).
"""

from __future__ import annotations

# (client, name) pairs remembered in one minute. Each is kept as its hash (an int, not two
# strings), so the set stays about 1 MB in the DNS process (and in the log writer's, which
# keeps one too) however the load goes; past the bound every pair counts as new, so nothing is
# hidden, only fewer repeats are dropped. Under 19,661: a set grows its table fourfold once it
# is 3/5 full, so 20,000 ints took a table of 131,072 slots (2 MB) where 19,000 fit in 32,768
# (0.5 MB).
MAX_PAIRS = 19_000


class FirstRows:
    def __init__(self, max_pairs: int = MAX_PAIRS) -> None:
        self.max_pairs = max_pairs
        self._minute = -1
        self._seen: set[int] = set()

    def first(self, row: tuple) -> bool:
        """True if `row` is the first this minute for its (client, name); remembers it."""
        minute = int(row[0]) // 60
        if minute != self._minute:
            self._minute = minute
            self._seen.clear()
        head = row[1]
        key = hash((head[0], head[3]) if type(head) is tuple else (head, row[4]))
        seen = self._seen
        if key in seen:
            return False
        if len(seen) < self.max_pairs:  # past this, every pair counts as new: nothing is hidden
            seen.add(key)
        return True
