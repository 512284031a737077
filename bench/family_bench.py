"""Microseconds per cached answer, in process: the cost of the children's family filter.

Cached answers are what a home asks most. This drives `FilterResolver.answer` with the same
packet over and over (the memo and the cache answer it, no socket, no upstream) for an adult's
and a child's device, with and without `[upstream] children`, and prints µs per answer. "fresh"
moves the wall clock a second each call, so every answer is decided again (the once-a-second
path, where the choice of upstream is made) instead of coming from the memo.

    .venv/bin/python bench/family_bench.py
"""

from __future__ import annotations

import time
from pathlib import Path

from dnslib import DNSRecord

from agent import config as config_mod
from agent.dns import wire
from agent.dns.server import FilterResolver
from agent.lists.index import ListIndex
from agent.rules.decision import ALLOWED, Action, Decision
from agent.rules.policy import Policy, PolicyHolder

CHILD, ADULT = "127.0.0.5", "127.0.0.6"
ROUNDS = 100_000  # CPU time of this process: other load on the machine counts less
CHILD_ALLOWED = Decision(Action.ALLOW, "Allowed", child="Ada")


def decide(policy: Policy, client: str, name: str, qtype: int, now: object) -> Decision:
    return CHILD_ALLOWED if client == CHILD else ALLOWED


def resolver(children: list[str], fresh: bool) -> FilterResolver:
    upstream: dict = {"servers": ["127.0.0.1:9"]}
    if children:  # a version before the family filter knows no such key
        upstream["children"] = children
    rules = {"unassigned": "adult"}  # the device that is not the child's is an adult's
    raw = {"dns": {"listen": ["127.0.0.1:0"]}, "upstream": upstream, "rules": rules}
    cfg = config_mod.parse(raw, "bench", Path("."))
    seconds = iter(range(10**9))

    def wall() -> float:  # "fresh": a new second every call
        return 1_000_000.0 + (next(seconds) if fresh else 0)

    policy = Policy(index=ListIndex.empty(), rules=cfg.rules)
    holder = PolicyHolder(policy)
    return FilterResolver(cfg, holder, decide, monotonic=lambda: 100.0, wallclock=wall)


def per_answer(r: FilterResolver, client: str) -> float:
    packet = bytes(DNSRecord.question("example.com").pack())
    q = wire.parse_query(packet)
    reply = bytes(DNSRecord.parse(packet).reply().pack())
    reply = reply[:6] + b"\x00\x01" + reply[8:] + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10"
    reply += b"\x00\x04\xc0\x00\x02\x01"
    family = getattr(r, "family", None)
    suffix = family.suffix if family is not None and client == CHILD else b""
    r.cache.put(q.key + suffix, reply, 100.0)
    answer = r.answer
    assert isinstance(answer(packet, client), bytes)
    start = time.process_time()
    for _ in range(ROUNDS):
        answer(packet, client)
    return (time.process_time() - start) / ROUNDS * 1e6


def main() -> None:
    print(f"{'':34}{'memo (µs)':>12}{'fresh (µs)':>12}")
    cases = [("adult, no family filter", [], ADULT), ("child, no family filter", [], CHILD)]
    if "children" in config_mod.UpstreamConfig.__dataclass_fields__:
        cases += [
            ("adult, family filter configured", ["127.0.0.1:10"], ADULT),
            ("child, family filter configured", ["127.0.0.1:10"], CHILD),
        ]
    for label, children, client in cases:
        memo = min(per_answer(resolver(children, False), client) for _ in range(5))
        fresh = min(per_answer(resolver(children, True), client) for _ in range(5))
        print(f"{label:34}{memo:12.2f}{fresh:12.2f}")


if __name__ == "__main__":
    main()
