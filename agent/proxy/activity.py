"""Request rows for the query log: what an inspected device did, in the DNS log's own shape.

The proxy writes to the same `query_log` table as the DNS, through the same writer process
(`agent.store.logpipe.LogPipe`), so insights, the dashboard and retention treat its rows like any
other. `qtype` tells them apart:

- "HTTP": a request, with the rules' answer (allowed, or blocked and why);
- "SEARCH": a search on a results page; `rule` is "search:<engine>" and `reason` the sentence
  a parent reads, with the words searched;
- "WS": a WebSocket to a video-chat service (WebRTC signalling), which keeps a video-chat
  session open in the insights while the call goes on.

A page load makes dozens of requests to one host: `Throttle` keeps one row per device, host and
kind a minute (blocks every few seconds), enough for "when was it used" without the flood.
"""

from __future__ import annotations

from collections.abc import Hashable

from agent.events.searches import Search
from agent.proxy.clients import Asker
from agent.rules.decision import Action, Decision, RuleKind, RuleRef
from agent.store.querylog import LogEntry

HTTP, SEARCH, WS = "HTTP", "SEARCH", "WS"
_SEARCHED, _FOR = "Searched ", ' for "'
ALLOWED_EVERY = 60.0
BLOCKED_EVERY = 5.0


class Throttle:
    """Says whether a row is due for `key`: not more often than `every` seconds."""

    def __init__(self, max_keys: int = 50_000) -> None:
        self.max_keys = max_keys
        self._last: dict[Hashable, float] = {}

    def due(self, key: Hashable, now: float, every: float) -> bool:
        last = self._last.get(key)
        if last is not None and 0 <= now - last < every:
            return False
        if len(self._last) >= self.max_keys:
            self._last.clear()  # a bound, not an eviction policy: a few extra rows at worst
        self._last[key] = now
        return True


def request_row(ts: float, who: Asker, host: str, qtype: str, d: Decision) -> LogEntry:
    action = Action.BLOCK if d.blocked else Action.ALLOW  # a rewrite was served: allowed
    return LogEntry(
        ts, who.ip, who.mac, d.child, host, qtype, action.value, *d.columns[1:],
    )  # fmt: skip


def search_row(ts: float, who: Asker, host: str, search: Search) -> LogEntry:
    reason = f'{_SEARCHED}{search.engine_name}{_FOR}{search.terms}"'
    return LogEntry(
        ts, who.ip, who.mac, who.child_name, host, SEARCH, Action.ALLOW.value,
        RuleRef(RuleKind.SEARCH, search.engine).to_column(), reason, "search",
    )  # fmt: skip


def read_search(row: LogEntry) -> Search | None:
    """The search a "SEARCH" row records (what `search_row` wrote); None for any other row."""
    ref = RuleRef.from_column(row.rule)
    reason = row.reason
    if row.qtype != SEARCH or ref.kind is not RuleKind.SEARCH or not reason.endswith('"'):
        return None
    if not reason.startswith(_SEARCHED) or _FOR not in reason:
        return None
    engine_name, terms = reason[len(_SEARCHED) : -1].split(_FOR, 1)
    return Search(ref.subject, engine_name, terms)
