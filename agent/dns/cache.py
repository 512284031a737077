"""The answer cache: raw reply bytes keyed by question, with honest TTLs.

- Positive answers live for their smallest record TTL, clamped to [min_ttl, max_ttl].
- Negative answers (NXDOMAIN, NODATA) live for the SOA's negative TTL (RFC 2308), clamped
  to negative_max_ttl; without an SOA they are not cached.
- Expired answers are kept a while longer so they can be served stale, with a short TTL,
  when every upstream has failed (RFC 8767).
- A hit patches TTLs down by the answer's age; the patched bytes are memoised per second, so
  most hits cost a dict lookup and a slice.

An entry is kept small (a full cache is 10,000 of them on a Pi that has little to spare): the
time it was stored, where its question ends, where its TTLs sit and what they said are packed
into one short bytes object (`Entry.meta`) rather than a float, an int and two tuples of ints,
and read back only when the entry is loaded (once a second at most) or served stale.

The entries sit in a plain dict in the order they were stored (an OrderedDict costs some 45
bytes more an entry) and leave by second chance, an approximation of least recently used: a
hit only marks the entry used; when the cache is over its size, entries are taken from the
oldest end, a used one goes back to the newest end unmarked and an unused one is dropped. A
batch at a time (`EVICT_BATCH`), so the walk past the oldest end's freed slots that a plain
dict makes is paid once a batch, not once an answer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING

from agent.dns import wire

if TYPE_CHECKING:
    from agent.dns.answers import Facts


@dataclass(slots=True)
class Entry:
    """One answer. Only the copy last served is kept: every TTL in it is rewritten from the
    TTLs as stored (clamped) when it ages, so the original bytes are not needed as well."""

    served: bytes  # the reply with its TTLs aged by `served_age` seconds
    expires: float
    meta: bytes  # `pack_meta`: when it was stored, where the question ends, each TTL's offset
    served_age: int = 0
    facts: Facts | None = None  # what the answer leads to, read once (agent/dns/answers.py)
    used: bool = False  # served since it was stored or last given its second chance

    @property
    def stored(self) -> float:
        return _HEAD.unpack_from(self.meta)[0]

    @property
    def question_end(self) -> int:
        return _HEAD.unpack_from(self.meta)[1]

    @property
    def offsets(self) -> tuple[int, ...]:
        return unpack_meta(self.meta)[1]

    @property
    def ttls(self) -> tuple[int, ...]:
        return unpack_meta(self.meta)[2]


_HEAD = struct.Struct("=dH")  # stored, question_end
_LAYOUTS: dict[int, struct.Struct] = {}  # by the number of TTLs
# Entries let go at once when over size (at most 1% of the size): the cache then holds a
# little under its size until it fills again.
EVICT_BATCH = 100


def _layout(n: int) -> struct.Struct:
    layout = _LAYOUTS.get(n)
    if layout is None:  # one per record count: a handful in practice
        layout = _LAYOUTS[n] = struct.Struct(f"=dH{n}H{n}I")
    return layout


def pack_meta(
    stored: float, question_end: int, offsets: tuple[int, ...], ttls: tuple[int, ...]
) -> bytes:
    return _layout(len(offsets)).pack(stored, question_end, *offsets, *ttls)


def unpack_meta(meta: bytes) -> tuple[float, tuple[int, ...], tuple[int, ...]]:
    """(stored, offsets, ttls) as `pack_meta` was given them."""
    n = (len(meta) - _HEAD.size) // 6
    values = _layout(n).unpack(meta)
    return values[0], values[2 : n + 2], values[n + 2 :]


class ResponseCache:
    def __init__(
        self,
        size: int = 10_000,
        min_ttl: int = 0,
        max_ttl: int = 86_400,
        negative_max_ttl: int = 3_600,
        stale_ttl: int = 30,
        stale_max_age: int = 86_400,
    ) -> None:
        self.size = max(1, size)
        self.min_ttl, self.max_ttl = min_ttl, max_ttl
        self.negative_max_ttl = negative_max_ttl
        self.stale_ttl, self.stale_max_age = stale_ttl, stale_max_age
        self._entries: dict[bytes, Entry] = {}  # oldest first, see the module's doc
        self._batch = min(EVICT_BATCH, max(1, self.size // 100))
        self.hits = self.misses = self.stale_served = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> Entry | None:
        """A fresh entry with `served` holding the reply with TTLs aged; None on a miss."""
        entry = self._entries.get(key)
        if entry is None or now >= entry.expires:
            self.misses += 1
            return None
        self.hits += 1
        entry.used = True
        meta = entry.meta
        age = int(now - _HEAD.unpack_from(meta)[0])
        if age != entry.served_age:
            _, offsets, ttls = unpack_meta(meta)
            aged = tuple(max(0, t - age) for t in ttls)
            entry.served = wire.with_ttls(entry.served, offsets, aged)
            entry.served_age = age
        return entry

    def get_stale(self, key: bytes, now: float) -> bytes | None:
        """An expired answer still worth serving when upstreams are down, with a short TTL."""
        entry = self._entries.get(key)
        if entry is None or now > entry.expires + self.stale_max_age:
            return None
        self.stale_served += 1
        _, offsets, ttls = unpack_meta(entry.meta)
        return wire.with_ttls(entry.served, offsets, tuple(min(t, self.stale_ttl) for t in ttls))

    def put(self, key: bytes, reply: bytes, now: float, facts: Facts | None = None) -> bool:
        """Store a reply if it may be cached; returns whether it was."""
        try:
            info = wire.inspect_reply(reply)
        except wire.WireError:
            return False
        ttl = self._ttl_for(reply, info)
        if ttl is None:
            return False
        ttls = tuple(
            min(max(t, self.min_ttl), self.max_ttl) for t in wire.read_ttls(reply, info.ttl_offsets)
        )
        served = wire.with_ttls(reply, info.ttl_offsets, ttls)
        meta = pack_meta(now, info.question_end, info.ttl_offsets, ttls)
        entries = self._entries
        entries.pop(key, None)  # a replaced answer counts as new: to the newest end
        entries[key] = Entry(served, now + ttl, meta, 0, facts)
        if len(entries) > self.size:
            self._evict(len(entries) - self.size + self._batch - 1, key)
        return True

    def _evict(self, count: int, newest: bytes) -> None:
        """Drop `count` entries by second chance (see the module's doc), never `newest`, the
        one just stored. Each pass looks at the oldest entries once; a used one is moved to
        the newest end, so a second pass always finds enough."""
        entries = self._entries
        count = min(count, len(entries) - 1)
        while count > 0:
            for key in list(islice(entries, count)):
                entry = entries[key]
                if entry.used or key == newest:
                    entry.used = False
                    del entries[key]
                    entries[key] = entry
                else:
                    del entries[key]
                    count -= 1

    def _ttl_for(self, reply: bytes, info: wire.ReplyInfo) -> int | None:
        if info.truncated:
            return None
        answers = int.from_bytes(reply[6:8], "big")
        if info.rcode == wire.NXDOMAIN or (info.rcode == wire.NOERROR and answers == 0):
            if info.soa_min is None:
                return None
            return min(info.soa_min, self.negative_max_ttl)
        if info.rcode != wire.NOERROR or info.min_ttl is None:
            return None
        return min(max(info.min_ttl, self.min_ttl), self.max_ttl)

    def clear(self) -> None:
        self._entries.clear()
