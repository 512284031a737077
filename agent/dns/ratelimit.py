"""How many queries one device may send: a token bucket per client address.

Each address may ask `per_minute` queries in a burst and earns them back at `per_minute / 60`
a second (Pi-hole's default is 1,000 a minute). Beyond that its queries are refused, so one
device in a loop, or a child's flood, cannot starve the others or drown their queries in the
log. A flood is one *episode*: it starts with the first refused query and ends when the device
has slowed down enough for its bucket to fill again; the front ends announce each episode once
(`take_announcement`), never each refused query.

The box's own loopback addresses are not limited: the proxy looks up every name it connects to
through this server on behalf of the whole home, and no device on the network can send from
them (the kernel drops loopback sources arriving from outside).

The state is one small list per address in a dict kept under `max_clients`: addresses idle for
a minute have full buckets and are forgotten first, so forgetting them changes nothing.
"""

from __future__ import annotations

IDLE_SECONDS = 60.0  # a bucket untouched this long is full again: nothing to remember
BOX_ITSELF = frozenset({"127.0.0.1", "::1"})


class RateLimiter:
    def __init__(
        self, per_minute: int, max_clients: int = 4_096, exempt: frozenset[str] = BOX_ITSELF
    ) -> None:
        self.per_minute = per_minute
        self.exempt = exempt  # never given a bucket: each query takes the `_first` path
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens earned a second
        self.max_clients = max_clients
        # address -> [tokens, last update (monotonic seconds), episode start or 0.0]
        self._buckets: dict[str, list[float]] = {}
        self._announce: str | None = None  # an address whose flood has just begun
        self.refused = 0
        self.episodes = 0

    def allow(self, client: str, now: float) -> bool:
        """Take one token for `client`; False when it has none left (refuse the query)."""
        b = self._buckets.get(client)
        if b is None:
            return self._first(client, now)
        tokens = b[0] + (now - b[1]) * self.rate
        b[1] = now
        if tokens >= 1.0:
            if tokens >= self.capacity:
                tokens = self.capacity
                b[2] = 0.0  # slowed down for long enough: any flood is over
            b[0] = tokens - 1.0
            return True
        b[0] = tokens
        self.refused += 1
        if not b[2]:
            b[2] = now or 1e-9
            self.episodes += 1
            self._announce = client
        return False

    def take_announcement(self, client: str) -> bool:
        """True once per episode: for the refused query that began `client`'s flood."""
        if self._announce == client:
            self._announce = None
            return True
        return False

    def flooding(self, client: str) -> bool:
        b = self._buckets.get(client)
        return b is not None and bool(b[2])

    def __len__(self) -> int:
        return len(self._buckets)

    def _first(self, client: str, now: float) -> bool:
        if client in self.exempt:
            return True
        if self.capacity < 1.0:
            return False
        if len(self._buckets) >= self.max_clients:
            self._make_room(now)
        self._buckets[client] = [self.capacity - 1.0, now, 0.0]
        return True

    def _make_room(self, now: float) -> None:
        """Forget idle addresses; if a crowd of them is still busy (spoofed sources), the
        oldest half goes: memory stays bounded, and each gets a fresh bucket if it returns."""
        buckets = self._buckets
        for client in [c for c, b in buckets.items() if now - b[1] >= IDLE_SECONDS]:
            del buckets[client]
        if len(buckets) >= self.max_clients * 3 // 4:
            for client in list(buckets)[: len(buckets) // 2]:
                del buckets[client]
