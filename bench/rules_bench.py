"""How long one `decide()` takes: allowed, blocked and rewritten answers for a 3-child home.

    .venv/bin/python bench/rules_bench.py

Uses the shipped app catalogue and safe-search file, an index of the catalogue plus a few list
names, and a household with three children, devices, rules, a schedule and a pause.
"""

from __future__ import annotations

import time as clock
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from agent.config import RulesConfig
from agent.lists.index import IndexBuilder
from agent.rules.catalog import load_catalog
from agent.rules.decide import decide
from agent.rules.household import Child, Device, Household, Pause, RuleEntry, Schedule
from agent.rules.policy import Policy
from agent.rules.safesearch import load_safesearch

N = 50_000  # calls per round
ROUNDS = 5  # the best round is reported: other programs on the box only ever add time
NOW = datetime(2026, 11, 23, 17, 0, tzinfo=ZoneInfo("Europe/London"))  # a Monday, 17:00


def build_policy() -> Policy:
    catalog = load_catalog()
    builder = IndexBuilder()
    for domain, source, category, app in catalog.index_entries():
        builder.add(domain, source, category, app)
    for name in ("bet365.com", "paddypower.com"):
        builder.add(name, "gambling", "gambling")
    builder.add("dns.google", "bypass", "bypass")
    builder.add("evil.example", "malware", "malware")
    household = Household(
        children=(
            Child(1, "Sam", date(2015, 3, 10)),
            Child(2, "Alex", date(2018, 1, 20)),
            Child(3, "Jo", date(2011, 5, 5)),
        ),
        devices=(
            Device(1, "02:00:00:00:00:01", "192.168.1.10", "Sam's phone", "child", 1),
            Device(2, "02:00:00:00:00:02", "192.168.1.11", "Alex's tablet", "child", 2),
            Device(3, "02:00:00:00:00:03", "192.168.1.12", "Jo's laptop", "child", 3),
            Device(4, "02:00:00:00:00:04", "192.168.1.2", "Laptop", "adult"),
        ),
        rules=(
            RuleEntry(1, "allow", "domain", "bbc.co.uk"),
            RuleEntry(1, "block", "app", "roblox"),
            RuleEntry(3, "allow", "app", "discord"),
        ),
        schedules=(
            Schedule(1, "Bedtime", 1, frozenset(range(7)), time(21), time(7), block_all=True),
            Schedule(
                2,
                "Homework",
                3,
                frozenset(range(5)),
                time(16),
                time(18),
                block=frozenset({"gaming"}),
            ),
        ),  # fmt: skip
        pauses=(Pause(datetime(2026, 11, 23, 16, 0, tzinfo=ZoneInfo("UTC")), child_id=2),),
    )
    neighbours = {d.ip: d.mac for d in household.devices if d.ip and d.mac}
    return Policy(builder.build(), household, catalog, load_safesearch(), neighbours, RulesConfig())


CASES = [
    ("allowed (unlisted name)", "192.168.1.10", "news.bbc.com"),
    ("allowed (explicit domain)", "192.168.1.10", "www.bbc.co.uk"),
    ("allowed (app, adult)", "192.168.1.2", "www.tiktok.com"),
    ("blocked (app age)", "192.168.1.10", "www.tiktok.com"),
    ("blocked (explicit app)", "192.168.1.10", "roblox.com"),
    ("blocked (list, under 18)", "192.168.1.12", "bet365.com"),
    ("blocked (schedule)", "192.168.1.12", "www.minecraft.net"),
    ("blocked (bypass)", "192.168.1.11", "dns.google"),
    ("rewrite (google)", "192.168.1.10", "www.google.com"),
    ("rewrite (youtube)", "192.168.1.12", "www.youtube.com"),
]


def main() -> None:
    policy = build_policy()
    print(f"decide(), best of {ROUNDS} rounds of {N:,} calls, {len(policy.index):,} listed names")
    for label, client, name in CASES:
        decision = decide(policy, client, name, 1, NOW)
        best = float("inf")
        for _ in range(ROUNDS):
            started = clock.perf_counter()
            for _ in range(N):
                decide(policy, client, name, 1, NOW)
            best = min(best, clock.perf_counter() - started)
        micros = best / N * 1e6
        print(f"  {label:<28} {micros:6.2f} us  {decision.action.value:<8} {decision.columns[1]}")


if __name__ == "__main__":
    main()
