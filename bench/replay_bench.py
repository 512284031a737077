"""Microseconds per answer on the compiled UDP front end, in process: replay in C against Python.

`BatchedUdp` reads a batch of datagrams and answers what the memo already holds in C
(`replay_batch`); the rest go to `FilterResolver.answer` one at a time. This sends batches of 32
real datagrams over loopback from a child's device and times the server's side of each
(`_answer_batches`: receiving, answering, the query-log rows, sending) in CPU seconds of this
process, then the same batches answered as the front end did before `replay_batch`: recv_batch,
`answer` a packet at a time, send_batch. Four loads: blocked questions asked again (the memo
holds them), cached answers asked again in the same second, and a second later (their TTLs
aged: C ages the tail, Python loads it from the cache again), and a flood of listed names never
asked before (50,000 distinct names cycled through a memo of 3,000: Python decides every one
again; C blocks them from the block kept for their list's claim set). Best of 5.

    .venv/bin/python bench/replay_bench.py
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from dnslib import RR, DNSHeader, DNSQuestion, DNSRecord

from agent import config as config_mod
from agent.dns import wire
from agent.dns.native import fastpath
from agent.dns.server import BatchedUdp, FilterResolver
from agent.lists.index import IndexBuilder
from agent.rules.decision import ALLOWED, Action, Decision, RuleKind, RuleRef
from agent.rules.policy import Policy, PolicyHolder

CHILD = "127.0.0.5"
BATCH = 32
BLOCKED = Decision(Action.BLOCK, "Blocked for Ada", RuleRef(RuleKind.LIST, "ads"), child="Ada")
ALLOWED_CHILD = Decision(Action.ALLOW, "Allowed", child="Ada")


def decide(policy: Policy, client: str, name: str, qtype: int, now: object) -> Decision:
    if client != CHILD:
        return ALLOWED
    return BLOCKED if name.endswith(".blocked.example") else ALLOWED_CHILD


def classes(policy: Policy) -> tuple[object, object] | None:
    """The promise `agent.rules.decide.name_classes` states, as this `decide` keeps it: no
    name is special, and the one listed name, blocked.example, decides every name below it."""
    return fastpath.Table(fastpath.build_table([])), policy.index.compiled  # type: ignore[union-attr]


def packets(template: str, count: int) -> list[bytes]:
    return [
        bytes(DNSRecord(DNSHeader(id=i % 65536, rd=1), q=DNSQuestion(template % i)).pack())
        for i in range(count)
    ]


class Front:
    """A resolver, a BatchedUdp on a loopback socket, and the child's socket that asks."""

    def __init__(self) -> None:
        raw = {"dns": {"listen": ["127.0.0.1:0"], "client_rate_limit": 0}}
        raw["upstream"] = {"servers": ["127.0.0.1:9"]}
        cfg = config_mod.parse(raw, "bench", Path("."))
        listed = IndexBuilder()
        listed.add("blocked.example", "ads", "ads")
        holder = PolicyHolder(Policy(index=listed.build(), rules=cfg.rules))
        self.rows: list[tuple] = []
        self.mono = 100.0  # moved only by `seconds(tick=)`: cached answers stay fresh
        self.resolver = FilterResolver(
            cfg,
            holder,
            decide,
            submit=self.rows.append,  # type: ignore[arg-type]
            monotonic=lambda: self.mono,
            wallclock=lambda: 1_000_000.0,  # the memo's second never ends
            classes=classes,
        )
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.setblocking(False)
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.bind((CHILD, 0))
        self.client.setblocking(False)
        self.front = BatchedUdp(self.resolver, self.server)

    def cache(self, questions: list[bytes]) -> None:
        """A fresh cached answer for each question, as the upstream would have given it."""
        for packet in questions:
            record = DNSRecord.parse(packet)
            reply = record.reply()
            reply.add_answer(*RR.fromZone(f"{record.q.qname} 300 IN A 192.0.2.1"))
            self.resolver.cache.put(wire.parse_query(packet).key, bytes(reply.pack()), 100.0)

    def python(self) -> int:
        """One batch as the front end answered it before replay_batch."""
        answer = self.resolver.answer
        batch = fastpath.recv_batch(self.front.fd, BATCH)  # type: ignore[union-attr]
        out = [(answer(data, client), addr) for data, client, addr in batch]
        fastpath.send_batch(self.front.fd, [(r, a) for r, a in out if type(r) is bytes])  # type: ignore[union-attr]
        return len(batch)

    def seconds(self, questions: list[bytes], answer: Callable[[], int], tick: float = 0) -> float:
        """CPU seconds the server spent answering every question once, a batch at a time,
        `tick` seconds after the last time."""
        self.mono += tick
        to, spent = self.server.getsockname(), 0.0
        for start in range(0, len(questions), BATCH):
            for packet in questions[start : start + BATCH]:
                self.client.sendto(packet, to)
            began = time.process_time()
            answer()
            spent += time.process_time() - began
            self.rows.clear()
            while fastpath.recv_batch(self.client.fileno(), 64):  # type: ignore[union-attr]
                pass
        return spent


def main() -> None:
    if fastpath is None:
        print("replay_bench: the compiled fast path is not built here")
        return
    loads = {  # questions, passes, seconds between passes
        "blocked, asked again": (packets("n%d.blocked.example", 2_000), 10, 0),
        "cached, asked again": (packets("n%d.example.com", 2_000), 10, 0),
        "cached, a second later": (packets("n%d.example.com", 2_000), 10, 1),
        "blocked, never seen": (packets("n%d.flood.blocked.example", 50_000), 1, 0),
    }
    print(f"replay_bench: batches of {BATCH} over loopback, server-side CPU µs per answer")
    for label, (questions, passes, tick) in loads.items():
        best = {}
        for way in ("replay (C)", "python"):
            front = Front()
            if label.startswith("cached"):
                front.cache(questions)
            answer = front.front._answer_batches if way.startswith("replay") else front.python
            front.seconds(questions, answer)  # every question prepared once
            runs = [
                sum(front.seconds(questions, answer, tick) for _ in range(passes))
                / (len(questions) * passes)
                for _ in range(5)
            ]
            best[way] = min(runs) * 1e6
        ratio = best["python"] / best["replay (C)"]
        cells = ", ".join(f"{way} {us:.2f}" for way, us in best.items())
        print(f"  {label:24s} {cells}  ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
