"""The active-minute estimate: which minutes count as "using" an app or site.

DNS shows when a device looks a name up, not when someone looks at a screen, so the minutes
are an estimate (see docs/activity-estimate.md for the method and its limits). The rule, for
one device and one app or site:

- A *query minute* is a minute in which the device made at least one query for the app.
- Two query minutes at most `GAP_MINUTES` apart belong to the same stretch of use, and every
  minute from the first to the second counts (the app kept working from its cached answers).
- A query minute with no other query minute within `GAP_MINUTES` either side is background
  noise (a keep-alive, a notification, a widget refreshing) and does not count, however many
  queries it holds: a phone often asks A, AAAA and HTTPS records at once for one keep-alive.

The rule is local: whether minute m counts depends only on query minutes within GAP_MINUTES
of m. So adding a batch of queries spanning minutes lo..hi can only change minutes in
lo-GAP..hi+GAP, and judging those needs query minutes in lo-2*GAP..hi+2*GAP (`window`). More
queries never make a minute stop counting, which lets rollups grow by deltas.
"""

from __future__ import annotations

from collections.abc import Iterable

GAP_MINUTES = 5


def counted(query_minutes: Iterable[int], lo: int | None = None, hi: int | None = None) -> set[int]:
    """The minutes that count, given the query minutes of one device and app; limited to
    lo..hi (inclusive) when given. The caller passes every query minute in lo-GAP..hi+GAP."""
    ordered = sorted(set(query_minutes))
    out: set[int] = set()
    for a, b in zip(ordered, ordered[1:], strict=False):
        if b - a <= GAP_MINUTES:
            out.update(range(a, b + 1))
    if lo is not None or hi is not None:
        low = lo if lo is not None else -(2**62)
        high = hi if hi is not None else 2**62
        out = {m for m in out if low <= m <= high}
    return out


def window(lo: int, hi: int) -> tuple[int, int]:
    """The query minutes needed to re-judge minutes after adding queries in lo..hi."""
    return lo - 2 * GAP_MINUTES, hi + 2 * GAP_MINUTES


def newly_counted(before: Iterable[int], added: Iterable[int]) -> set[int]:
    """Minutes that count once `added` query minutes join `before` and did not count before.

    `before` must hold every earlier query minute within 2*GAP_MINUTES of the added ones."""
    new = set(added)
    if not new:
        return set()
    old = set(before)
    lo, hi = min(new) - GAP_MINUTES, max(new) + GAP_MINUTES
    return counted(old | new, lo, hi) - counted(old, lo, hi)
