"""Insights remembers the answers in use, not every answer it ever gave: a flood of new names
or a long history leaves the jobs process its size."""

from __future__ import annotations

import tracemalloc
from datetime import datetime
from zoneinfo import ZoneInfo

from agent.insights.recent import Recent
from agent.insights.things import (
    MINUTES_REMEMBERED,
    NAMES_REMEMBERED,
    Classifier,
    LocalClock,
)
from agent.rules.catalog import load_catalog

LONDON = ZoneInfo("Europe/London")


def test_an_answer_in_use_survives_a_flood_and_at_most_twice_the_size_is_kept() -> None:
    computed: list[int] = []

    def compute(key: int) -> int:
        computed.append(key)
        return key * 2

    recent: Recent[int, int] = Recent(100)
    assert recent.get(-1, compute) == -2
    for key in range(10_000):
        assert recent.get(key, compute) == key * 2
        assert recent.get(-1, compute) == -2  # in use all along
        assert len(recent) <= 200
    assert computed.count(-1) == 1, "asked again and again, worked out once"
    assert recent.get(9_999, compute) == 19_998 and computed.count(9_999) == 1


def test_a_flood_of_new_names_leaves_the_classifier_small_and_right() -> None:
    """30,000 names never seen before (a device stuck in a loop, a flood of blocked names):
    the classifier keeps what is in use (it kept up to 100,000 answers, ~20 MB, before: 6 MB
    here), and its answers are those of a classifier that has seen nothing."""
    catalog = load_catalog()
    flooded = Classifier(catalog)
    tracemalloc.start()
    try:
        for i in range(30_000):
            flooded.thing(f"www{i}.site{i % 5_000}.example.co.uk", None)
            if i % 1_000 == 0:
                assert flooded.thing("www.bbc.co.uk", None) == ("site", "bbc.co.uk")
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept < 2_000_000, f"{kept:,} bytes kept"
    assert len(flooded._recent) <= 2 * NAMES_REMEMBERED
    fresh = Classifier(catalog)
    for name in ("www.youtube.com", "www29999.site4999.example.co.uk", "time.apple.com"):
        assert flooded.thing(name, None) == fresh.thing(name, None)


def test_a_long_history_leaves_the_clock_small_and_right_across_the_clocks_changing() -> None:
    clock = LocalClock(LONDON)
    start = int(datetime(2026, 3, 1, tzinfo=LONDON).timestamp()) // 60
    for minute in range(start, start + 60 * 24 * 60, 7):  # two months, through 29 March
        moment = datetime.fromtimestamp(minute * 60, LONDON)
        assert clock.at(minute) == (moment.date().isoformat(), moment.hour)
    assert len(clock._recent) <= 2 * MINUTES_REMEMBERED
    change = int(datetime(2026, 3, 29, 0, 59, tzinfo=LONDON).timestamp()) // 60
    assert [clock.at(m) for m in (change, change + 1)] == [("2026-03-29", 0), ("2026-03-29", 2)]
