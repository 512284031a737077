"""The answer cache: raw reply bytes keyed by question, with honest TTLs.

- Positive answers live for their smallest record TTL, clamped to [min_ttl, max_ttl].
- Negative answers (NXDOMAIN, NODATA) live for the SOA's negative TTL (RFC 2308), clamped
  to negative_max_ttl; without an SOA they are not cached.
- Expired answers are kept a while longer so they can be served stale, with a short TTL,
  when every upstream has failed (RFC 8767).
- A hit patches TTLs down by the answer's age; the patched bytes are memoised per second, so
  most hits cost a dict lookup and a slice.

An entry is kept small (a full cache is 10,000 of them on a Pi that has little to spare): one
bytes object per answer, the reply as last served followed by where its TTLs sit, what they
said when stored, and a fixed trailer (when it was stored, when it expires, the age its TTLs
were last aged to, where the question ends). No object, float or tuple per entry besides its
key; `get` hands out an `Entry` made from it, which the caller keeps only as long as it needs.
What an answer leads to (`Facts`) is kept beside, only for the few answers that lead somewhere.

The entries sit in a plain dict in the order they were stored (an OrderedDict costs some 45
bytes more an entry) and leave by second chance, an approximation of least recently used: a
hit only notes the key as used; when the cache is over its size, entries are taken from the
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
from agent.dns.answers import PLAIN

if TYPE_CHECKING:
    from agent.dns.answers import Facts

# stored, expires, served_age, question_end, served length, record count
_TRAILER = struct.Struct("=ddIHHH")
_T = _TRAILER.size
_LAYOUTS: dict[int, struct.Struct] = {}  # offsets then TTLs as stored, by the record count
# Entries let go at once when over size (at most 1% of the size): the cache then holds a
# little under its size until it fills again.
EVICT_BATCH = 100


def _layout(n: int) -> struct.Struct:
    layout = _LAYOUTS.get(n)
    if layout is None:  # one per record count: a handful in practice
        layout = _LAYOUTS[n] = struct.Struct(f"={n}H{n}I")
    return layout


def pack(
    served: bytes,
    stored: float,
    expires: float,
    served_age: int,
    question_end: int,
    offsets: tuple[int, ...],
    ttls: tuple[int, ...],
) -> bytes:
    n = len(offsets)
    return (
        served
        + _layout(n).pack(*offsets, *ttls)
        + _TRAILER.pack(stored, expires, served_age, question_end, len(served), n)
    )


@dataclass(slots=True)
class Entry:
    """One answer as `ResponseCache.get` hands it out: made from the stored bytes, not kept by
    the cache."""

    served: bytes  # the reply with its TTLs aged
    expires: float
    question_end: int
    offsets: tuple[int, ...]
    ttls: tuple[int, ...]  # as stored (clamped)
    stored: float
    facts: Facts | None = None  # what the answer leads to, read once (agent/dns/answers.py)


def unpack(blob: bytes, facts: Facts | None) -> Entry:
    stored, expires, _, question_end, length, n = _TRAILER.unpack_from(blob, len(blob) - _T)
    values = _layout(n).unpack_from(blob, length)
    return Entry(blob[:length], expires, question_end, values[:n], values[n:], stored, facts)


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
        self._entries: dict[bytes, bytes] = {}  # oldest first, see the module's doc
        self._used: set[bytes] = set()  # keys served since stored or last given their chance
        self._facts: dict[bytes, Facts | None] = {}  # where they are not PLAIN (None: unread)
        self._batch = min(EVICT_BATCH, max(1, self.size // 100))
        self.hits = self.misses = self.stale_served = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: bytes, now: float) -> Entry | None:
        """A fresh entry with `served` holding the reply with TTLs aged; None on a miss."""
        blob = self._entries.get(key)
        if blob is None:
            self.misses += 1
            return None
        stored, expires, served_age, question_end, length, n = _TRAILER.unpack_from(
            blob, len(blob) - _T
        )
        if now >= expires:
            self.misses += 1
            return None
        self.hits += 1
        self._used.add(key)
        values = _layout(n).unpack_from(blob, length)
        offsets, ttls = values[:n], values[n:]
        age = max(0, int(now - stored))  # a clock read before the store counts as no age
        served = blob[:length]
        if age != served_age:
            served = wire.with_ttls(served, offsets, tuple(max(0, t - age) for t in ttls))
            self._entries[key] = pack(served, stored, expires, age, question_end, offsets, ttls)
        facts = self._facts.get(key, PLAIN) if self._facts else PLAIN
        return Entry(served, expires, question_end, offsets, ttls, stored, facts)

    def note_facts(self, key: bytes, facts: Facts) -> None:
        """What a stored answer leads to, read after it was stored (see `put`'s `facts`)."""
        if key in self._entries:
            if facts is PLAIN:
                self._facts.pop(key, None)
            else:
                self._facts[key] = facts

    def get_stale(self, key: bytes, now: float) -> bytes | None:
        """An expired answer still worth serving when upstreams are down, with a short TTL."""
        blob = self._entries.get(key)
        if blob is None:
            return None
        entry = unpack(blob, None)
        if now > entry.expires + self.stale_max_age:
            return None
        self.stale_served += 1
        ttls = tuple(min(t, self.stale_ttl) for t in entry.ttls)
        return wire.with_ttls(entry.served, entry.offsets, ttls)

    def put(self, key: bytes, reply: bytes, now: float, facts: Facts | None = None) -> bool:
        """Store a reply if it may be cached; returns whether it was. `facts`: what it leads
        to, as `answers.AnswerCheck.facts` read it; None: not read yet."""
        try:
            info = wire.inspect_reply(reply)
        except wire.WireError:
            return False
        ttl = self._ttl_for(reply, info)
        if ttl is None:
            return False
        offsets = info.ttl_offsets
        low, high = self.min_ttl, self.max_ttl
        ttls = tuple(min(max(t, low), high) for t in wire.read_ttls(reply, offsets))
        served = wire.with_ttls(reply, offsets, ttls)
        entries = self._entries
        entries.pop(key, None)  # a replaced answer counts as new: to the newest end
        self._used.discard(key)
        entries[key] = pack(served, now, now + ttl, 0, info.question_end, offsets, ttls)
        if facts is PLAIN:
            self._facts.pop(key, None)
        else:
            self._facts[key] = facts
        if len(entries) > self.size:
            self._evict(len(entries) - self.size + self._batch - 1, key)
        return True

    def _evict(self, count: int, newest: bytes) -> None:
        """Drop `count` entries by second chance (see the module's doc), never `newest`, the
        one just stored. Each pass looks at the oldest entries once; a used one is moved to
        the newest end, so a second pass always finds enough."""
        entries, used, facts = self._entries, self._used, self._facts
        count = min(count, len(entries) - 1)
        while count > 0:
            for key in list(islice(entries, count)):
                if key in used or key == newest:
                    used.discard(key)
                    entries[key] = entries.pop(key)
                else:
                    del entries[key]
                    if facts:
                        facts.pop(key, None)
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
        self._used.clear()
        self._facts.clear()
