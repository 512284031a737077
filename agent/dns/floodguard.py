"""The per-client rate limit as the front ends apply it.

A query over the limit is answered REFUSED before anything else is done with it. The first
refused query of a flood also goes to the query log as one row (action "refuse", rule
"flood"): the DNS process writes no SQL, and the jobs process already reads every row, so the
insights job turns that row into the one event a parent sees ("this device flooded the box").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from agent.dns import wire
from agent.dns.ratelimit import RateLimiter
from agent.rules.decision import RuleKind, RuleRef

if TYPE_CHECKING:
    from agent.dns.server import FilterResolver

log = logging.getLogger(__name__)

FLOOD_RULE = RuleRef(RuleKind.FLOOD).to_column()
FLOOD_ACTION = "refuse"


class FloodGuard:
    def __init__(self, resolver: FilterResolver, per_minute: int) -> None:
        self.resolver = resolver
        self.per_minute = per_minute
        self.limiter = RateLimiter(per_minute)
        self.allow = self.limiter.allow  # the front ends call this once a query
        self.refused = 0  # queries turned away for going over the limit (for /metrics)

    def refuse(self, data: bytes, client: str) -> bytes | None:
        """The answer to a query over the limit; the flood's first one is logged."""
        self.refused += 1
        if self.limiter.take_announcement(client):
            self._announce(data, client)
        return wire.error_reply(data, wire.REFUSED)

    def _announce(self, data: bytes, client: str) -> None:
        log.warning(
            "%s sent more than %d queries in a minute: the extra ones are refused until it "
            "slows down",
            client,
            self.per_minute,
        )
        try:
            q = wire.parse_query(data)
            name, qtype = q.name, q.qtype_name
        except wire.WireError:
            name, qtype = "", "?"
        r = self.resolver
        reason = f"more than {self.per_minute} queries a minute: the extra ones were refused"
        device = r.holder.current.neighbours.get(client)
        # a flat row in the query log's column order (`LogEntry`)
        row = (r.wallclock(), client, device, None, name, qtype, FLOOD_ACTION, FLOOD_RULE)
        r.submit(row + (reason, None, None, None, None, False))
