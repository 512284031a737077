"""Benchmark the query log writer: how many rows a second reach SQLite, and what is dropped.

    .venv/bin/python bench/querylog_bench.py [--rows 500000] [--rate 50000 250000] [--seconds 5]
                                             [--keep DIR]

Run 1 (throughput): submits --rows realistic rows through the real `QueryLogWriter` into a
fresh SQLite file as fast as the writer takes them. The producer waits when the queue is 90%
full, which the DNS path never does, so this measures the writer, not the queue size.
Run 2 (fixed rate): for each --rate, submits that many rows/s for --seconds, never waiting,
with the default queue, the way a flooded DNS server would; the drop count is the honest price
of that rate. The default second rate is well above what the writer sustains, to show drops.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.store import LogEntry, QueryLogWriter, count_rows  # noqa: E402
from agent.store.logwriter import ROW_BYTES  # noqa: E402

WORDS = ["www", "api", "cdn", "img", "static", "app", "m", "live", "video", "news", "chat"]
SITES = ["google", "youtube", "tiktok", "roblox", "minecraft", "bbc", "wikipedia", "discord"]
BLOCKS = [
    ("list:bypass", "Blocked: this app hides what a child does online.", "bypass", "NordVPN"),
    ("age:tiktok", "Blocked: TikTok is for 13 and over.", "social", "TikTok"),
    ("schedule:Bedtime", "Blocked: it is bedtime (21:00-07:00).", None, None),
    ("category:adult", "Blocked: adult content.", "adult", None),
]


def templates(count: int, seed: int = 7) -> list[LogEntry]:
    """Realistic rows: mostly allowed and cached, some blocked, a few safe-search rewrites."""
    rng = random.Random(seed)
    names = [f"{rng.choice(WORDS)}{rng.randrange(40)}.{rng.choice(SITES)}.com" for _ in range(5000)]
    out = []
    for _ in range(count):
        host = rng.randrange(2, 40)
        kind = rng.random()
        rule, reason, category, app = ("", "", None, None)
        action = "allow"
        if kind < 0.08:
            action = "block"
            rule, reason, category, app = rng.choice(BLOCKS)
        elif kind < 0.10:
            action, rule, reason = "rewrite", "safesearch:google", "Safe search is on."
        cached = action == "allow" and rng.random() < 0.6
        out.append(
            LogEntry(
                ts=0.0,
                client=f"192.168.1.{host}",
                device=f"aa:bb:cc:00:00:{host:02x}",
                child=rng.choice(["Sam", "Alex", "Robin", None]),
                name=rng.choice(names),
                qtype=rng.choices(["A", "AAAA", "HTTPS"], [6, 3, 1])[0],
                action=action,
                rule=rule,
                reason=reason,
                category=category,
                app=app,
                upstream=None if cached or action != "allow" else "9.9.9.9:53",
                latency_ms=round(rng.uniform(0.05, 0.3) if cached else rng.uniform(5, 80), 3),
                cached=cached,
            )
        )
    return out


def describe(writer: QueryLogWriter, path: Path, seconds: float) -> None:
    average = writer.written / writer.batches if writer.batches else 0
    print(f"  rows written   {writer.written:,} ({count_rows(path):,} in the file)")
    print(f"  rows dropped   {writer.dropped:,}  (failed batches: {writer.failed_batches})")
    size, largest = path.stat().st_size, writer.largest_batch
    print(f"  batches        {writer.batches:,}, average {average:,.0f}, largest {largest:,}")
    print(f"  file size      {size / 1e6:.1f} MB ({size / max(writer.written, 1):.0f} B/row)")
    print(f"  elapsed        {seconds:.2f} s")


def submit_cost(rows: list[LogEntry], path: Path) -> tuple[float, float]:
    """Nanoseconds per row: submit() alone, and building the tuple plus submit()."""
    writer = QueryLogWriter(path, queue_size=2 * len(rows))  # not started: only the queue
    started = time.perf_counter()
    for row in rows:
        writer.submit(row)
    alone = time.perf_counter() - started
    started = time.perf_counter()
    for row in rows:
        writer.submit(LogEntry(1.0, row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8]))
    built = time.perf_counter() - started
    return alone / len(rows) * 1e9, built / len(rows) * 1e9


def throughput(path: Path, pool: list[LogEntry], rows: int) -> None:
    writer = QueryLogWriter(path)
    room = min(writer.queue_size, writer.queue_bytes // ROW_BYTES)  # the queue is in bytes
    high_water, pause, make = int(room * 0.9), threading.Event(), LogEntry._make
    writer.start()
    started = time.perf_counter()
    base = time.time()
    for i in range(rows):
        while writer.queued >= high_water:
            pause.wait(0.001)
        writer.submit(make((base + i / 1e4, *pool[i % len(pool)][1:])))
    assert writer.flush(timeout=600), "the writer did not finish"
    elapsed = time.perf_counter() - started
    writer.stop()
    print(f"Run 1: {rows:,} rows as fast as the writer takes them")
    print(f"  throughput     {writer.written / elapsed:,.0f} rows/s into SQLite")
    describe(writer, path, elapsed)


def fixed_rate(path: Path, pool: list[LogEntry], rate: int, seconds: float) -> None:
    writer = QueryLogWriter(path)
    pause, make, sent, most_queued = threading.Event(), LogEntry._make, 0, 0
    writer.start()
    started = time.perf_counter()
    while (now := time.perf_counter() - started) < seconds:
        due = int(now * rate)
        while sent < due:
            writer.submit(make((started + now, *pool[sent % len(pool)][1:])))
            sent += 1
        most_queued = max(most_queued, writer.queued)
        pause.wait(0.0005)
    submitted_in = time.perf_counter() - started
    writer.flush(timeout=600)
    drained_in = time.perf_counter() - started - submitted_in
    writer.stop()
    queue = f"{writer.queue_bytes // ROW_BYTES:,} rows"
    print(f"Run 2: {rate:,} rows/s for {seconds:g} s, never waiting (queue {queue})")
    print(f"  submitted      {writer.submitted:,} in {submitted_in:.2f} s")
    print(f"  most queued    {most_queued:,}; the rest written {drained_in:.2f} s after the last")
    describe(writer, path, submitted_in + drained_in)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument(
        "--rate", type=int, nargs="+", default=[50_000, 250_000], help="rows/s, one run each"
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--keep", type=Path, help="write the files here instead of a temp folder")
    args = parser.parse_args()
    pool = templates(20_000)
    with tempfile.TemporaryDirectory() as temp:
        folder = args.keep or Path(temp)
        folder.mkdir(parents=True, exist_ok=True)
        alone, built = submit_cost(pool * 10, folder / "submit.db")
        print(f"submit() cost   {alone:.0f} ns per row; {built:.0f} ns with building the LogEntry")
        throughput(folder / "throughput.db", pool, args.rows)
        for rate in args.rate:
            fixed_rate(folder / f"rate_{rate}.db", pool, rate, args.seconds)


if __name__ == "__main__":
    main()
