"""Benchmark the query log end to end: rows/s from `LogPipe.submit` into the database, what
was dropped, and the peak RSS of the log-writer process.

    .venv/bin/python bench/logpipe_bench.py [--rate 20000 0] [--seconds 8] [--url URL]
                                            [--queue-kb 1024] [--spool-mb 50] [--names 3000]

Rows have the DNS server's shape (ts, head, upstream, latency, cached) with --names heads (a
flood of new names, as a benchmark's 1M blocked names make: --names 300000). For
each --rate (rows/s; 0 = as fast as this loop can submit, as a flooded DNS server would), rows
are submitted for --seconds, never waiting, then flushed. Into a fresh SQLite file, or into the
PostgreSQL database at --url (a table `query_log` is made there if missing).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.store.logpipe import LogPipe  # noqa: E402
from agent.store.logwriter import QUEUE_BYTES  # noqa: E402


def heads(count: int = 3_000, seed: int = 7) -> list[tuple]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        blocked = rng.random() < 0.1
        out.append(
            (
                f"192.168.1.{rng.randrange(2, 40)}",
                f"aa:bb:cc:00:00:{rng.randrange(256):02x}",
                rng.choice(["Sam", "Alex", None]),
                f"www{i}.site{rng.randrange(50)}.com",
                "A",
                "block" if blocked else "allow",
                "age:tiktok" if blocked else "",
                "Blocked: TikTok is for 13 and over." if blocked else "",
                "social" if blocked else None,
                "TikTok" if blocked else None,
            )
        )
    return out


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM"):
                return int(line.split()[1])
    return 0


def run(target: str | Path, rate: int, seconds: float, queue_kb: int, spool: Path | None,
        spool_mb: int, names: int = 3_000) -> None:  # fmt: skip
    pool = heads(names)
    pipe = LogPipe(target, queue_kb * 1024, spool=spool, spool_bytes=spool_mb << 20)
    pipe.start()
    started, sent, pause = time.perf_counter(), 0, 0.0005
    while (now := time.perf_counter() - started) < seconds:
        due = int(now * rate) if rate else sent + 200
        ts = time.time()
        while sent < due:
            pipe.submit((ts, pool[sent % len(pool)], None, 0.1, True))
            sent += 1
        time.sleep(pause)
    submitted_in = time.perf_counter() - started
    flushed = pipe.flush(300)
    elapsed = time.perf_counter() - started
    peak = peak_rss_kb(pipe._proc.pid) if pipe._proc is not None else 0
    pipe.stop()
    label = f"{rate:,} rows/s" if rate else "flat out"
    print(f"{label}: {sent:,} submitted in {submitted_in:.1f} s")
    print(f"  written {pipe.written:,}, dropped {pipe.dropped:,}, rejected {pipe.rejected:,}")
    print(f"  {pipe.written / elapsed:,.0f} rows/s end to end over {elapsed:.1f} s"
          f"{'' if flushed else ' (flush timed out)'}")  # fmt: skip
    print(f"  log-writer process peak RSS {peak / 1024:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, nargs="+", default=[20_000, 0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--url", help="a postgresql:// URL instead of a fresh SQLite file")
    parser.add_argument("--queue-kb", type=int, default=QUEUE_BYTES >> 10)  # [store]'s default
    parser.add_argument("--spool-mb", type=int, default=50)
    parser.add_argument("--names", type=int, default=3_000, help="distinct names (heads)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        for i, rate in enumerate(args.rate):
            target = args.url or Path(temp) / f"log{i}.db"
            spool = Path(temp) / f"querylog{i}.spool" if args.spool_mb else None
            run(target, rate, args.seconds, args.queue_kb, spool, args.spool_mb, args.names)


if __name__ == "__main__":
    main()
