"""What one upstream query costs the DNS process: CPU microseconds in this process and wall
time per round trip, against a trivial loopback responder running in another process.

    python bench/upstream_cost.py [queries]

The responder flips the QR bit and sends the packet back, so the figures are the pool's own
cost (sockets, matching, timers) plus one loopback round trip, not a resolver's.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from multiprocessing import Process, Queue

from agent.config import HostPort
from agent.dns import wire
from agent.dns.upstream import UpstreamPool


def _responder(ready: Queue) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    ready.put(sock.getsockname()[1])
    while True:
        data, addr = sock.recvfrom(4096)
        sock.sendto(data[:2] + bytes((data[2] | 0x80,)) + data[3:], addr)


async def _run(port: int, n: int) -> tuple[float, float]:
    pool = UpstreamPool((HostPort("127.0.0.1", port),), 2.0, 30.0)
    await pool.start()
    queries = []
    for i in range(n):
        q = wire.parse_query(wire.HEADER.pack(0, 0x0100, 1, 0, 0, 0) + _question(f"n{i}.example"))
        queries.append((q.upstream_packet(), q.key[:-2]))
    for packet, key in queries[:200]:  # warm up
        await pool.query(packet, key)
    cpu, wall = time.process_time(), time.perf_counter()
    for packet, key in queries:
        await pool.query(packet, key)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    pool.close()
    return cpu / n * 1e6, wall / n * 1e6


def _question(name: str) -> bytes:
    return wire.encode_name(name) + b"\x00\x01\x00\x01"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    ready: Queue = Queue()
    proc = Process(target=_responder, args=(ready,), daemon=True)
    proc.start()
    try:
        cpu, wall = asyncio.run(_run(ready.get(timeout=10), n))
    finally:
        proc.terminate()
    print(f"{n} upstream queries: {cpu:.1f} us CPU each in the DNS process, {wall:.1f} us wall")


if __name__ == "__main__":
    main()
