"""How long compiling the lists takes, against dnsmasq loading the same names.

    .venv/bin/python bench/compile_bench.py [--names 1000000] [--keep DIR] [--runs N]
        [--in-process | --table-first] [--dnsmasq] [--start]

Generates the blocklist of bench/dns_bench.py (same seed, same names, hosts format), then
compiles it as the jobs process does (`compile_in_child`: a fresh spawned process, the bypass
list and the app catalogue too) and prints wall and CPU seconds and the child's peak RSS
(CPU seconds hold up better than wall on a shared machine). --table-first compiles as a start
with no index does: it returns when the fast path's table is saved. --in-process compiles in
this process (for a profiler). --dnsmasq starts dnsmasq as bench/dns_bench.py does (pinned to
CPU 0) and times it until it answers for the last listed name. --start times `houserules run`
with no index to its first answer (pinned the same way), then reads the DNS process's memory
after 100k lookups of listed names (dnsperf). Compare runs made close together.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _data import generate  # noqa: E402
from _houserules import HouseRules  # noqa: E402
from _servers import (  # noqa: E402
    Fleet,
    dnsmasq_cmd,
    free_port,
    upstream_cmd,
    wait_first_answer,
)

from agent.config import load  # noqa: E402
from agent.lists.compile import compile_in_child, compile_index  # noqa: E402
from agent.rules.catalog import load_catalog  # noqa: E402

BYPASS = ROOT / "blocklists" / "bypass.txt"
SERVER_CPU = 0 if (os.cpu_count() or 1) >= 2 else None  # as bench/dns_bench.py pins servers


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
        cmd = dnsmasq_cmd(port, upstream, hosts, folder / "d.log", False)
        proc = fleet.spawn("dnsmasq", cmd, port, SERVER_CPU)  # pinned, as bench/dns_bench.py
        seconds = wait_first_answer(proc, last, 120)
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
        print(
            f"dnsmasq: answered for the last listed name ({last}) after {seconds:.2f}s wall, "
            f"{cpu:.2f}s CPU"
        )
    finally:
        fleet.stop_all()


def smaps_rss(pid: int, path_part: str) -> float:
    """MB resident of the mappings of `pid` whose path holds `path_part`."""
    kb, inside = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        if line[:1].isdigit() or line[:1] in "abcdef":
            inside = path_part in line
        elif inside and line.startswith("Rss:"):
            kb += int(line.split()[1])
    return kb / 1024


def status_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out


def time_start(folder: Path, hosts: Path) -> None:
    """`houserules run` with no compiled index, as bench/dns_bench.py starts it: seconds to
    its first answer; then the DNS process's memory after 100k lookups of listed names."""
    fleet = Fleet(folder)
    try:
        upstream = free_port()
        fleet.spawn("up", upstream_cmd(upstream, folder / "up.log"), upstream, None)
        (folder / "hr").mkdir(exist_ok=True)
        hr = HouseRules(folder / "hr", free_port(), upstream, hosts, False)
        if not hr.db.exists():
            seconds, line = hr.init()
            print(f"houserules init: {seconds:.1f}s ({line}); household: {hr.add_household()}")
        hr.forget_index()
        proc = fleet.spawn("houserules", hr.command(), hr.port, SERVER_CPU)
        first = wait_first_answer(proc, "probe.example", 120)
        maps = Path(f"/proc/{proc.pid}/maps").read_text().split()
        print("  running:", next((m for m in maps if "_fastpath" in m), "no fast path"))
        said = [line for line in proc.stderr.read_text().splitlines() if "compiled in" in line]
        print(f"houserules run, no index: first answer after {first:.2f}s ({said[-1][-30:]})")
        blocked = folder / "blocked.txt"
        cmd = ["dnsperf", "-s", "127.0.0.1", "-p", str(hr.port), "-d", str(blocked), "-n", "2"]
        subprocess.run([*cmd, "-q", "200", "-l", "120"], capture_output=True, check=False)
        dns = status_mb(proc.pid)
        table = smaps_rss(proc.pid, "names.hash")
        trie = smaps_rss(proc.pid, "names.marisa") + smaps_rss(proc.pid, "claims.bin")
        print(
            "DNS process after 100k lookups of listed names: "
            + ", ".join(f"{k} {v:.1f} MB" for k, v in dns.items())
            + f"; names.hash resident {table:.1f} MB, trie files {trie:.1f} MB"
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
    ap.add_argument("--table-first", action="store_true", help="return when the table is in")
    ap.add_argument("--start", action="store_true", help="time `houserules run` from no index")
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
            first = {"table_first": True} if args.table_first else {}
            report = compile_in_child(cfg, entries, catalog.fingerprint, **first)
            who = resource.RUSAGE_CHILDREN
        seconds = time.perf_counter() - started
        if args.table_first:  # wait for the child to save the whole index: its peak RSS
            for thread in threading.enumerate():
                if thread.name == "list compiler":
                    thread.join()
            print(f"whole index saved after {time.perf_counter() - started:.2f}s")
        usage = resource.getrusage(who)
        cpu = usage.ru_utime + usage.ru_stime - cpu_before
        cpu_before += cpu
        print(
            f"compile: {seconds:.2f}s wall, {cpu:.2f}s CPU ({report.seconds:.2f}s wall and "
            f"{report.cpu_seconds:.2f}s CPU inside when it reported), "
            f"peak RSS {usage.ru_maxrss / 1024:.0f} MB"
        )
        for line in report.summary():
            print("  " + line)
    if args.dnsmasq:
        time_dnsmasq(folder, hosts)
    if args.start:
        time_start(folder, hosts)


if __name__ == "__main__":
    main()
