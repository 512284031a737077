"""What checking a cached answer's chain costs on a cache hit (agent/dns/answers.py).

    .venv/bin/python bench/answer_check_bench.py

In process, no sockets: the real `FilterResolver.answer` with the real `decide` over the
household of bench/rules_bench.py. Three cached answers: a plain A record, a two-CNAME chain to
an unlisted CDN (allowed, so every name is decided), and a CNAME to TikTok (held back for an
11-year-old). A cache hit whose question was already prepared this second reuses the check's
result; a hit that loads the entry (the first per device, question and second) runs the
check. Both are timed, and `AnswerCheck.hold` on its own.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dnslib import RR, DNSRecord

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules_bench import NOW, build_policy  # noqa: E402

from agent.config import Config  # noqa: E402
from agent.dns import wire  # noqa: E402
from agent.dns.server import FilterResolver  # noqa: E402
from agent.rules.decide import decide  # noqa: E402
from agent.rules.policy import PolicyHolder  # noqa: E402

N = 50_000
ROUNDS = 5
SAM = "192.168.1.10"  # 11 on the bench's date
ANSWERS = {
    "plain.example": "plain.example. 300 IN A 198.51.100.1",
    "chain.example": """chain.example. 300 IN CNAME a.cdn.example.
a.cdn.example. 300 IN CNAME b.cdn.example.
b.cdn.example. 300 IN A 198.51.100.2""",
    "innocent.example": """innocent.example. 300 IN CNAME www.tiktok.com.
www.tiktok.com. 300 IN A 198.51.100.3""",
}


def resolver() -> FilterResolver:
    r = FilterResolver(
        Config(),
        PolicyHolder(build_policy()),
        decide,
        tz=NOW.tzinfo,
        wallclock=lambda: NOW.timestamp(),
        monotonic=lambda: 100.0,
    )
    for name, zone in ANSWERS.items():
        q = wire.parse_query(bytes(DNSRecord.question(name).pack()))
        reply = DNSRecord.question(name).reply()
        for rr in RR.fromZone(zone):
            reply.add_answer(rr)
        packed = bytes(reply.pack())
        assert r.cache.put(q.key, packed, 100.0, r.answers.facts(packed, name))
    return r


def best(fn, n: int = N) -> float:
    """Microseconds per call, best of ROUNDS."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n * 1e6)
    return min(times)


def measure(r: FilterResolver, name: str) -> str:
    packet = bytes(DNSRecord.question(name, "A").pack())
    reply = r.answer(packet, SAM)
    assert isinstance(reply, bytes), "cached or blocked: answered at once"
    verdict = "held" if DNSRecord.parse(reply).header.rcode else "answered"

    def prepared() -> None:
        r.answer(packet, SAM)

    def loads() -> None:
        r._memo.clear()
        r.answer(packet, SAM)

    q = wire.parse_query(packet)
    entry = r.cache.get(q.key, 100.0)
    assert entry is not None
    m = r._memo[(SAM, packet[2:])]
    now = r._wall(NOW.timestamp())
    policy = r.holder.current

    def hold() -> None:
        r.answers.hold(q, m.decision, m.head, entry.facts, SAM, policy, now)  # type: ignore[arg-type]

    return (
        f"{name:<18} {best(prepared):>11.2f} us {best(loads):>14.2f} us "
        f"{best(hold):>10.2f} us  ({verdict}; {len(entry.facts.names)} names)"  # type: ignore[attr-defined]
    )


def main() -> None:
    r = resolver()
    print(f"{'answer':<18} {'hit, prepared':>14} {'hit, loads entry':>17} {'hold() alone':>13}")
    for name in ANSWERS:
        print(measure(r, name))
    print('"loads entry" happens once per device, question and second')


if __name__ == "__main__":
    main()
