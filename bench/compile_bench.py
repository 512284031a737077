"""How long compiling the lists takes, against dnsmasq loading the same names.

    .venv/bin/python bench/compile_bench.py [--names 1000000] [--keep DIR] [--dnsmasq]
                                            [--in-process] [--runs N]

Generates the blocklist of bench/dns_bench.py (same seed, same names, hosts format), then
compiles it as a start with no index does (`compile_in_child`: a fresh spawned process, the
bypass list and the app catalogue too) and prints the seconds and the child's peak RSS.
--in-process compiles in this process instead (for a profiler). --dnsmasq also starts dnsmasq
the way bench/dns_bench.py does and times it until it answers for the last listed name.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _data import generate  # noqa: E402
from _servers import Fleet, dnsmasq_cmd, free_port, upstream_cmd, wait_first_answer  # noqa: E402

from agent.config import load  # noqa: E402
from agent.lists.compile import compile_in_child, compile_index  # noqa: E402
from agent.rules.catalog import load_catalog  # noqa: E402

BYPASS = ROOT / "blocklists" / "bypass.txt"


def write_config(folder: Path, hosts: Path) -> Path:
    config = folder / "houserules.toml"
    config.write_text(
        f"""[blocklists]
compiled_dir = "{folder / "index"}"

[[blocklists.sources]]
name = "bypass"
category = "bypass"
path = "{BYPASS}"

[[blocklists.sources]]
name = "bench"
category = "adult"
path = "{hosts}"
format = "hosts"
"""
    )
    return config


def hosts_file(folder: Path, names: int) -> Path:
    hosts = folder / "list.hosts"
    if not hosts.exists():
        started = time.perf_counter()
        generate(folder, names)
        print(f"generated {names:,} names in {time.perf_counter() - started:.1f}s")
    return hosts


def time_dnsmasq(folder: Path, hosts: Path) -> None:
    last = hosts.read_text().rstrip("\n").rsplit("\n", 1)[-1].split()[-1]
    fleet = Fleet(folder)
    try:
        upstream = free_port()
        fleet.spawn("up", upstream_cmd(upstream, folder / "up.log"), upstream, None)
        port = free_port()
        proc = fleet.spawn(
            "dnsmasq", dnsmasq_cmd(port, upstream, hosts, folder / "d.log", False), port, None
        )
        seconds = wait_first_answer(proc, last, 120)
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        print(
            f"dnsmasq: answered for the last listed name ({last}) after {seconds:.2f}s wall, "
            f"{cpu:.2f}s CPU"
        )
    finally:
        fleet.stop_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--names", type=int, default=1_000_000)
    ap.add_argument("--keep", metavar="DIR", help="keep (and reuse) the generated list in DIR")
    ap.add_argument("--dnsmasq", action="store_true", help="time dnsmasq loading it too")
    ap.add_argument("--in-process", action="store_true", help="compile in this process")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="compile-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    hosts = hosts_file(folder, args.names)
    cfg = load(write_config(folder, hosts))
    catalog = load_catalog()
    entries = list(catalog.index_entries())
    cpu_before = 0.0
    if args.in_process:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu_before = usage.ru_utime + usage.ru_stime
    for _ in range(args.runs):
        started = time.perf_counter()
        if args.in_process:
            _, report = compile_index(cfg, entries, catalog.fingerprint)
            who = resource.RUSAGE_SELF
        else:
            report = compile_in_child(cfg, entries, catalog.fingerprint)
            who = resource.RUSAGE_CHILDREN
        seconds = time.perf_counter() - started
        usage = resource.getrusage(who)
        cpu = usage.ru_utime + usage.ru_stime - cpu_before
        cpu_before += cpu
        print(
            f"compile: {seconds:.2f}s wall, {cpu:.2f}s CPU ({report.seconds:.2f}s wall inside), "
            f"peak RSS {usage.ru_maxrss / 1024:.0f} MB"
        )
        for line in report.summary():
            print("  " + line)
    if args.dnsmasq:
        time_dnsmasq(folder, hosts)


if __name__ == "__main__":
    main()
