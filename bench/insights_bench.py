"""Benchmark insights: build the rollups for 90 days of a 10-device household, then time the
summaries a dashboard or digest asks for.

    .venv/bin/python bench/insights_bench.py [--days 90] [--devices 10] [--per-day 5500]
                                             [--batch 10000] [--keep FILE]

1. Generates --days of query-log rows for --devices devices (4 children with two devices each
   and two adults' devices by default: ~5M rows) straight into a fresh SQLite file with bulk
   inserts (the schema is the query log writer's own). Rows look like the DNS server's: app
   and site traffic in evening and weekend stretches, background lookups around the clock,
   blocked attempts with the rules engine's rule names.
2. Runs `InsightsJob` once over the whole log (as on a box that has just been upgraded) and
   prints rows/s.
3. Times `week_summary` (the last full week), `day_summary` and a 90-day `activity_series`
   for each child: the median of 20 runs each, on a warm cache.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.config import Config, RulesConfig  # noqa: E402
from agent.insights.job import BATCH_SIZE, InsightsJob  # noqa: E402
from agent.rules.catalog import load_catalog  # noqa: E402
from agent.store import household as store  # noqa: E402
from agent.store import rollups  # noqa: E402
from agent.store.db import connect, init_db, make_engine  # noqa: E402
from agent.store.querylog import _INSERT, _open_writer_connection  # noqa: E402

TZ = ZoneInfo("Europe/London")
CHILDREN = (("Sam", date(2015, 3, 10)), ("Alex", date(2011, 6, 1)))
CHILDREN += (("Robin", date(2013, 9, 2)), ("Kit", date(2017, 1, 20)))
APPS = {  # app id -> a few of its names
    "youtube": ["www.youtube.com", "i.ytimg.com", "rr4---sn-q4f.googlevideo.com"],
    "roblox": ["www.roblox.com", "apis.roblox.com", "tr.rbxcdn.com"],
    "minecraft": ["session.minecraft.net", "api.minecraftservices.com"],
    "discord": ["discord.com", "gateway.discord.gg", "cdn.discordapp.com"],
    "instagram": ["i.instagram.com", "scontent.cdninstagram.com"],
    "snapchat": ["app.snapchat.com", "cf-st.sc-cdn.net"],
    "whatsapp": ["g.whatsapp.net", "mmg.whatsapp.net"],
    "zoom": ["zoom.us", "us04web.zoom.us"],
}
SITES = [f"site{i}.example.co.uk" for i in range(150)] + ["www.bbc.co.uk", "en.wikipedia.org"]
BACKGROUND = ["connectivitycheck.gstatic.com", "time.apple.com", "gateway.icloud.com"]
BLOCKED = [  # name, rule, category, app
    ("www.tiktok.com", "age:tiktok", "social", "tiktok"),
    ("dns.google", "protection:bypass", "bypass", None),
    ("bet.example", "list:gambling", "gambling", None),
]


def build_household(engine) -> list[tuple[str, str, str | None]]:
    """Children, their devices and bedtimes; returns (ip, mac, child name or None) per device."""
    devices: list[tuple[str, str, str | None]] = []
    for n, (name, born) in enumerate(CHILDREN):
        child = store.add_child(engine, name, born)
        store.add_schedule(
            engine, child.id, "Bedtime", range(7), clock(21), clock(7), block_all=True
        )
        for k in range(2):
            devices.append((f"192.168.1.{20 + 2 * n + k}", f"02:00:00:00:{n:02x}:{k:02x}", name))
    for k in range(2):
        devices.append((f"192.168.1.{10 + k}", f"02:00:00:00:ff:{k:02x}", None))
    for ip, mac, child in devices:
        owner = "child" if child else "adult"
        child_id = store.get_child_by_name(engine, child).id if child else None  # type: ignore[union-attr]
        store.add_device(engine, ip=ip, mac=mac, owner=owner, child_id=child_id)
    return devices


def day_rows(
    rng: random.Random, day: date, ip: str, mac: str, child: str | None, per_day: int
) -> Iterator[tuple]:
    """One device's day: background every ~2 minutes, the rest in stretches of use."""
    start = datetime.combine(day, clock(), TZ).timestamp()
    for minute in range(0, 1440, 2):
        yield _row(start + minute * 60 + rng.random() * 60, ip, mac, child, rng.choice(BACKGROUND))
    budget = per_day - 720
    while budget > 0:
        begin = rng.choice((7, 16, 17, 18, 19, 20, 10, 14)) * 60 + rng.randrange(60)
        length = rng.randrange(10, 90)
        things = rng.sample(list(APPS), 2) + [rng.choice(SITES)]
        for m in range(begin, min(begin + length, 1440)):
            for _ in range(rng.randrange(4, 12)):
                ts = start + m * 60 + rng.random() * 60
                pick = rng.choice(things)
                if rng.random() < 0.03:
                    name, rule, category, app = rng.choice(BLOCKED)
                    yield _row(ts, ip, mac, child, name, "block", rule, category, app)
                elif pick in APPS:
                    yield _row(ts, ip, mac, child, rng.choice(APPS[pick]), app=pick)
                else:
                    yield _row(ts, ip, mac, child, pick)
                budget -= 1


def _row(ts, ip, mac, child, name, action="allow", rule="default", category=None, app=None):
    return (ts, ip, mac, child, name, "A", action, rule, "", category, app, "9.9.9.9:53", 3.0, 0)


def generate(path: Path, devices, days: int, per_day: int, first: date) -> int:
    conn = _open_writer_connection(path, 5.0)
    rng = random.Random(90)
    total = 0
    try:
        for n in range(days):
            rows = []
            for ip, mac, child in devices:
                rows.extend(day_rows(rng, first + timedelta(days=n), ip, mac, child, per_day))
            rows.sort(key=lambda r: r[0])
            conn.execute("BEGIN")
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
            total += len(rows)
    finally:
        conn.close()
    return total


def median_ms(fn, runs: int = 20) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def time_summaries(engine, first: date, days: int) -> None:
    """The median time of each summary a dashboard asks for, per child."""
    last_day = first + timedelta(days=days - 1)
    monday = last_day - timedelta(days=last_day.weekday() + 7)  # the last full week
    for name, _born in CHILDREN:
        week = median_ms(lambda n=name: rollups.week_summary(engine, n, monday))
        day = median_ms(lambda n=name: rollups.day_summary(engine, n, last_day))
        series = median_ms(lambda n=name: rollups.activity_series(engine, n, first, days))
        summary = rollups.week_summary(engine, name, monday)
        print(f"{name:<5} week_summary {week:6.2f} ms  day_summary {day:6.2f} ms  "
              f"{days}-day activity_series {series:6.2f} ms  "
              f"(week of {monday}: {summary.minutes} active minutes)")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--devices", type=int, default=10, help="(fixed layout: 4 children x 2 + 2)")
    ap.add_argument("--per-day", type=int, default=5_500, help="rows per device per day")
    ap.add_argument("--batch", type=int, default=BATCH_SIZE, help="rows per transaction")
    ap.add_argument("--keep", metavar="FILE", help="keep the database at FILE")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="insights-bench-"))
    path = Path(args.keep) if args.keep else folder / "bench.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    devices = build_household(engine)
    first = date(2026, 8, 24)  # a Monday; 90 days run to Saturday 21 November
    started = time.perf_counter()
    total = generate(path, devices, args.days, args.per_day, first)
    size_mb = path.stat().st_size / 1e6
    print(f"generated {total:,} rows for {len(devices)} devices over {args.days} days "
          f"in {time.perf_counter() - started:.1f}s ({size_mb:,.0f} MB)")  # fmt: skip
    cfg = Config(rules=RulesConfig(timezone="Europe/London"))
    job = InsightsJob(engine, load_catalog(), cfg, batch_size=args.batch)
    household = store.load_household(engine)
    end = datetime.combine(first + timedelta(days=args.days), clock(1), TZ)
    report = job.run(household, {}, end)
    print(f"rollups built: {report.rows:,} rows in {report.batches} batches, "
          f"{report.seconds:.1f}s = {report.rows / report.seconds:,.0f} rows/s, "
          f"{report.events} events")  # fmt: skip
    again = job.run(household, {}, end)
    print(f"incremental run with nothing new: {again.seconds * 1000:.1f} ms")
    time_summaries(engine, first, args.days)
    engine.dispose()
    with connect(path) as conn:
        marks = conn.execute("SELECT count(*) FROM activity_marks").fetchone()[0]
    print(f"activity marks: {marks:,} rows; database now {path.stat().st_size / 1e6:,.0f} MB")
    if not args.keep:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
