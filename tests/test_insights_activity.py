"""The active-minute rule, as tables, and the promise that lets rollups grow by deltas:
adding query minutes in any order and any chunks counts the same minutes as all at once."""

from __future__ import annotations

import random

import pytest

from agent.insights.activity import GAP_MINUTES, counted, newly_counted, window


@pytest.mark.parametrize(
    ("query_minutes", "expected"),
    [
        ([], set()),
        ([100], set()),  # a lone keep-alive is noise
        ([100, 100, 100], set()),  # many queries in one minute (A, AAAA, HTTPS) still one minute
        ([100, 101], {100, 101}),
        ([100, 105], set(range(100, 106))),  # 5 apart: the app kept working from its cache
        ([100, 106], set()),  # 6 apart: two lone lookups
        ([100, 102, 104, 110], set(range(100, 105))),  # 110 is on its own
        ([10, 12, 30, 33, 60], {10, 11, 12, 30, 31, 32, 33}),
        ([0, 5, 10, 15], set(range(0, 16))),  # a long stretch chains on
    ],
)
def test_counted(query_minutes: list[int], expected: set[int]) -> None:
    assert counted(query_minutes) == expected


def test_counted_within_limits() -> None:
    assert counted([100, 103, 110, 112], lo=102, hi=111) == {102, 103, 110, 111}


def test_gap_is_five_minutes() -> None:
    assert GAP_MINUTES == 5
    assert window(100, 120) == (90, 130)


@pytest.mark.parametrize(
    ("before", "added", "new"),
    [
        ([100], [101], {100, 101}),  # the lone lookup turns out to be the start of use
        ([100], [106], set()),
        ([100, 101], [103], {102, 103}),
        ([100, 101], [100], set()),  # more queries in a counted minute change nothing
        ([100, 110], [105], set(range(100, 111))),  # joins two lone lookups
    ],
)
def test_newly_counted(before: list[int], added: list[int], new: set[int]) -> None:
    assert newly_counted(before, added) == new


@pytest.mark.parametrize("seed", range(20))
def test_any_order_and_chunking_counts_the_same(seed: int) -> None:
    rng = random.Random(seed)
    minutes = [rng.randrange(0, 400) for _ in range(rng.randrange(1, 120))]
    chunks = sorted(minutes, key=lambda _: rng.random())
    seen: set[int] = set()
    total: set[int] = set()
    while chunks:
        size = rng.randrange(1, 15)
        part, chunks = chunks[:size], chunks[size:]
        lo, hi = window(min(part), max(part))
        nearby = {m for m in seen if lo <= m <= hi}
        new = newly_counted(nearby, set(part) - seen)
        assert not new & total  # a minute is counted once, never taken back
        total |= new
        seen |= set(part)
    assert total == counted(minutes)
