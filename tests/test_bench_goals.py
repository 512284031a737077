"""The benchmark's verdicts on the small-Pi goals (bench/_results.py), from figures given here:
each goal passes at its bound, fails past it, and says when it was not measured."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from _dnsperf import PerfResult  # noqa: E402
from _results import DNSMASQ, HR, Run, pi_goals  # noqa: E402
from _servers import Memory  # noqa: E402


def perf(qps: float, latencies: tuple[float, ...] = (), lost: int = 0) -> PerfResult:
    result = PerfResult()
    result.qps, result.lost = qps, lost
    result.latencies = list(latencies)
    return result


def memory(dns: float, jobs: float, writer: float) -> Memory:
    split = (("server", dns, dns, 0.0), ("jobs", jobs, jobs, 0.0), ("log writer", writer, 0, 0))
    return Memory(dns + jobs + writer, 0.0, 0.0, 0.0, 2, dns, (), split)


def runs(*, dns: float = 38.0, blocked: float = 100.0, p99_ms: float = 0.3) -> list[Run]:
    fast = tuple([p99_ms / 1000] * 100)
    mine = [
        Run(HR, w, 0.5, perf(blocked if w == "blocked" else 100.0), perf(2000, fast))
        for w in ("cached", "blocked", "mix")
    ]
    for r in mine:
        r.mem, r.log_rate = memory(dns, 50.0, 20.0), 30_000.0
    theirs = [
        Run(DNSMASQ, w, 4.0, perf(100.0), perf(2000, tuple([0.0004] * 100)))
        for w in ("cached", "blocked", "mix")
    ]
    return mine + theirs


def verdicts(all_runs: list[Run], start: float | None = 1.5) -> dict[str, str]:
    compile_run = Run(HR, "start", start, PerfResult())
    lines = pi_goals(all_runs, compile_run)
    return {line.split("  ", 1)[1].split(" (")[0]: line.split()[0] for line in lines}


def test_everything_within_the_goals_passes():
    got = verdicts(runs())
    assert set(got.values()) == {"PASS"}, got
    assert len(got) == 8


@pytest.mark.parametrize(
    ("change", "goal"),
    [
        ({"dns": 40.5}, "DNS process <= 40 MB under load"),
        ({"dns": 51.0}, "all 3 processes <= 120 MB under load"),
        ({"blocked": 99.0}, "blocked flat out >= 1.0x dnsmasq"),
        ({"p99_ms": 0.41}, "blocked: p99 at 2000 qps no worse than dnsmasq's"),
    ],
)
def test_each_goal_fails_past_its_bound(change, goal):
    assert verdicts(runs(**change))[goal] == "FAIL"


def test_compiling_is_judged_against_dnsmasqs_fastest_load():
    assert verdicts(runs(), start=2.0)["compiling <= 0.5 of dnsmasq's load time"] == "PASS"
    assert verdicts(runs(), start=2.1)["compiling <= 0.5 of dnsmasq's load time"] == "FAIL"
    assert verdicts(runs(), start=None)["compiling <= 0.5 of dnsmasq's load time"] == "NOT"


def test_a_slow_log_fails_and_no_memory_figure_is_not_a_pass():
    slow = runs()
    for r in slow:
        r.log_rate, r.mem = 19_000.0, None
    got = verdicts(slow)
    assert got["log flat out >= 20,000 rows/s end to end"] == "FAIL"
    assert got["memory under load"] == "NOT"
