"""HouseRules against dnsmasq (Pi-hole's core) on this machine: throughput, latency, memory,
start-up time and the query log, with the issue's goals checked.

    .venv/bin/python bench/dns_bench.py [--quick]

In a temporary folder it generates (seeded) a 1,000,000-name blocklist, 1,000 hot allowed names
and dnsperf query files; starts one local upstream (dnsmasq answering every name itself, TTL
3600); then for each workload (cached, blocked, mix 70/20/10 with never-seen names) starts a
fresh HouseRules, a fresh dnsmasq with the same list as --addn-hosts, and a dnsmasq that logs
queries as Pi-hole does, interleaved. Each gets a warm-up, a flat-out dnsperf run, a run paced at
2,000 qps whose per-query latencies (dnsperf -v) give p50/p95/p99, and a memory reading. The
server runs on CPU 0, dnsperf and the upstream on CPU 1. Everything listens on 127.0.0.1, every
process is stopped and the folder removed at the end. --quick: 100k names, 3 s runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import _dnsperf as dnsperf
from _data import Inputs, generate
from _houserules import HouseRules
from _results import (
    DNSMASQ,
    DNSMASQ_LOG,
    HR,
    LOG_QPS,
    PACED_QPS,
    WORKLOADS,
    Run,
    find,
    goals,
    pi_goals,
    table,
)
from _servers import (
    CpuWatch,
    Fleet,
    Proc,
    ask,
    dnsmasq_cmd,
    free_port,
    memory,
    upstream_cmd,
    wait_first_answer,
    wait_quiet,
)

SERVERS = (HR, DNSMASQ, DNSMASQ_LOG)
TWO_CORES = (os.cpu_count() or 1) >= 2
SERVER_CPU = 0 if TWO_CORES else None  # the server under test, with all its threads
LOAD_CPU = 1 if TWO_CORES else None  # dnsperf and the upstream
START_LIMIT = 120.0  # seconds a server may take to answer before the benchmark gives up
CONTENDED = 0.1  # CPUs used by other processes during a run above which it is flagged
ROWS_LIMIT = 30.0  # seconds to wait for the query log to catch up
QUIET_LIMIT = 60.0  # seconds to wait for other processes to leave the CPUs alone before a run


@dataclass(frozen=True)
class Settings:
    names: int
    seconds: float  # each flat-out run
    paced_seconds: float


FULL = Settings(1_000_000, 10, 10)
QUICK = Settings(100_000, 3, 3)


class BenchError(Exception):
    pass


def say(text: str = "") -> None:
    print(text, flush=True)


class Bench:
    def __init__(self, folder: Path, settings: Settings, quick: bool) -> None:
        self.folder, self.s, self.quick = folder, settings, quick
        self.fleet = Fleet(folder)
        self.runs: list[Run] = []
        self.inputs: Inputs
        self.hr: HouseRules
        self.upstream = free_port()
        self.compile_run: Run

    def prepare(self) -> None:
        started = time.perf_counter()
        self.inputs = generate(self.folder, self.s.names)
        size = self.inputs.hosts.stat().st_size / 1e6
        say(
            f"generated {self.inputs.names:,} listed names ({size:.0f} MB hosts file), "
            f"{len(self.inputs.hot_queries):,} hot and {len(self.inputs.blocked_queries):,} "
            f"blocked queries in {time.perf_counter() - started:.1f}s"
        )
        up = self.up = self.fleet.spawn(
            "upstream", upstream_cmd(self.upstream, self.log_path("up")), self.upstream, LOAD_CPU
        )
        if (
            wait_first_answer(up, "check.example", 10) is None
            or ask(self.upstream, "check.example", "AAAA") != 0
        ):
            raise BenchError("the local upstream (dnsmasq) does not answer A and AAAA")
        self.hr = HouseRules(self.folder, free_port(), self.upstream, self.inputs.hosts, self.quick)
        seconds, line = self.hr.init()
        say(f"houserules init: {seconds:.1f}s ({line})")
        say(f"household: {self.hr.add_household()}")
        self.hr.forget_index()
        rows = self.hr.rows()
        proc = self.start(HR)
        stderr = self.fleet.stop(proc)
        log = self.hr.log_count(stderr, rows)
        if log.written is None:
            say("HouseRules did not print its final line; its last words:\n" + stderr[-1000:])
        self.compile_run = Run(HR, "start", proc.first_answer, dnsperf.PerfResult(), log=log)
        say(f"HouseRules start with no compiled index: first answer after {proc.first_answer:.2f}s")

    def log_path(self, label: str) -> Path:
        return self.folder / f"{label}.log"

    def start(self, server: str, pinned: bool = True) -> Proc:
        cpu = SERVER_CPU if pinned else None
        if server == HR:
            proc = self.fleet.spawn("houserules", self.hr.command(), self.hr.port, cpu)
        else:
            port, log = free_port(), self.log_path(server)
            cmd = dnsmasq_cmd(port, self.upstream, self.inputs.hosts, log, server == DNSMASQ_LOG)
            proc = self.fleet.spawn(server, cmd, port, cpu)
        if wait_first_answer(proc, self.inputs.probe, START_LIMIT) is None:
            tail = self.fleet.stop(proc)[-2000:]
            raise BenchError(f"{server} gave no answer within {START_LIMIT:g}s:\n{tail}")
        return proc

    def queries(self, server: str, workload: str, paced: bool) -> Path:
        if workload == "cached":
            return self.inputs.hot
        if workload == "blocked":
            return self.inputs.blocked
        if paced:
            lines = int(PACED_QPS * self.s.paced_seconds * 1.1)
        else:  # enough never-seen names that the file outlasts the run at this server's best
            cached = find(self.runs, server, "cached")
            best = cached.top.qps if cached else 200_000
            lines = int(min(max(best * 1.3, 20_000), 300_000) * self.s.seconds)
        return self.inputs.mix(lines, f"{server}-{workload}-{'paced' if paced else 'top'}")

    def warm(self, port: int, qps: int | None = None) -> int:
        """Fill the caches: every hot and blocked query once, gently (or paced at `qps`); how
        many were answered (with the start-up probe's)."""
        answered = 1
        for path in (self.inputs.hot, self.inputs.blocked):
            answered += dnsperf.run(
                port, path, 60, cpu=LOAD_CPU, once=True, warm=True, qps=qps, latencies=False
            ).completed
        return answered

    def measure(self, server: str, workload: str) -> Run:
        rows_at_start = self.hr.rows()
        proc = self.start(server)
        run = Run(
            server, workload, proc.first_answer, dnsperf.PerfResult(), mem_start=memory(proc.pid)
        )
        try:
            answered = rows_at_start + self.warm(proc.port)
            top_file = self.queries(server, workload, paced=False)
            once = workload == "mix"  # read once, so never-seen names stay never seen
            rows0 = self.hr.wait_rows(answered, ROWS_LIMIT)[0] if server == HR else 0
            pids = [proc.pid, self.up.pid]
            wait_quiet(pids, QUIET_LIMIT)
            watch, started = CpuWatch(pids), time.perf_counter()
            run.top = dnsperf.run(proc.port, top_file, self.s.seconds, cpu=LOAD_CPU, once=once)
            run.others = watch.others()
            if server == HR:
                self.log_rates(run, rows0, started, answered + run.top.completed)
            if server != DNSMASQ_LOG:
                paced_file = self.queries(server, workload, paced=True)
                wait_quiet(pids, QUIET_LIMIT)
                watch = CpuWatch(pids)
                run.paced = dnsperf.run(
                    proc.port,
                    paced_file,
                    self.s.paced_seconds,
                    cpu=LOAD_CPU,
                    qps=PACED_QPS,
                    once=once,
                )
                run.others = max(run.others, watch.others())
            run.mem = memory(proc.pid)
        finally:
            stderr = self.fleet.stop(proc)
        if server == HR:
            run.log = self.hr.log_count(stderr, rows_at_start)
        if server == DNSMASQ_LOG:
            run.logged = count_logged(self.log_path(server))
        for path in self.folder.glob("mix-*.txt"):
            path.unlink()  # large, and never asked again
        return run

    def log_rates(self, run: Run, rows0: int, started: float, expected: int) -> None:
        """The run's rows per second into SQLite, end to end: from the run's start until the
        last of them arrived (the writer commits every few seconds, so the tail counts)."""
        ended = time.perf_counter()
        rows, last = self.hr.wait_rows(expected, ROWS_LIMIT)
        run.log_rows, run.missing = rows - rows0, expected - rows
        run.log_lag = max(0.0, last - ended)
        run.log_rate = run.log_rows / max(last - started, ended - started)

    def measure_log(self, pinned: bool) -> Run:
        """HouseRules paced at LOG_QPS cached queries: does every row reach SQLite in time?
        Unpinned, its log writer process may use the CPU dnsperf leaves free."""
        rows_at_start = self.hr.rows()
        proc = self.start(HR, pinned)
        workload = "log" if pinned else "log-2cpu"
        run = Run(HR, workload, proc.first_answer, dnsperf.PerfResult(), mem_start=memory(proc.pid))
        try:
            # The warm-up is paced too: every row of the run, warm-up included, must arrive, and
            # a flat-out burst is not the 20,000 rows/s this measures (the flat-out runs show
            # what happens past what the writer takes).
            answered = rows_at_start + self.warm(proc.port, qps=LOG_QPS)
            rows0 = self.hr.wait_rows(answered, ROWS_LIMIT)[0]
            pids = [proc.pid, self.up.pid]
            wait_quiet(pids, QUIET_LIMIT)
            watch, started = CpuWatch(pids), time.perf_counter()
            run.top = dnsperf.run(
                proc.port,
                self.inputs.hot,
                self.s.seconds,
                cpu=LOAD_CPU,
                qps=LOG_QPS,
                latencies=False,
            )
            run.others = watch.others()
            self.log_rates(run, rows0, started, answered + run.top.completed)
            run.mem = memory(proc.pid)
        finally:
            run.log = self.hr.log_count(self.fleet.stop(proc), rows_at_start)
        return run

    def run_all(self) -> None:
        for workload in WORKLOADS:
            for server in SERVERS:  # interleaved, so a slow minute on the machine hits both
                run = self.measure(server, workload)
                self.runs.append(run)
                say(describe(run))
        for pinned in (True, False) if TWO_CORES else (True,):
            self.runs.append(self.measure_log(pinned))
            say(describe(self.runs[-1]))


def count_logged(log: Path) -> int:
    """Queries dnsmasq wrote to its log (one `query[...]` line each); the file is removed."""
    count = 0
    with open(log, "rb") as fh:
        for _ in range(1_000_000):  # 1 MB chunks: bounded far beyond any run's log
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            count += chunk.count(b": query[")
    log.unlink()
    return count


def describe(run: Run) -> str:
    t, parts = run.top, [f"{run.workload:7} {run.server:11}"]
    if not t.ok:
        return f"{parts[0]} dnsperf failed: {t.error}"
    parts.append(f"{t.qps:9,.0f} qps, {t.completed:,}/{t.sent:,} answered, {t.lost} lost,")
    parts.append(f"avg {t.avg_latency * 1000:.2f} ms; {t.rcodes}")
    parts.append(f"\n{'':20}other processes used {run.others:.2f} CPUs during the runs")
    if run.paced:
        p = [run.ms(x) for x in (50, 95, 99)]
        shown = " / ".join("-" if v is None else f"{v:.3f}" for v in p)
        parts.append(f"\n{'':20}@{PACED_QPS} qps: p50/p95/p99 {shown} ms, {run.paced.lost} lost")
    if run.mem and run.mem_start:
        m, s = run.mem, run.mem_start
        parts.append(f"\n{'':20}RSS {m.rss:.1f} MB (anon {m.anon:.1f}, file {m.file:.1f};")
        beside = "".join(f", {role} {mb:.1f}" for role, mb in sorted(m.roles))
        parts.append(f"{m.children} child processes, the server alone {m.main_rss:.1f}{beside}),")
        parts.append(f"peak {m.hwm:.1f} MB; at the first answer {s.rss:.1f} MB, {run.start:.2f}s")
        if m.split:
            each = "; ".join(f"{w} {r:.1f} = {a:.1f} + {f:.1f}" for w, r, a, f in m.split)
            parts.append(f"\n{'':20}RSS = anon + file, MB: {each}")
    if run.log_rate is not None:
        parts.append(f"\n{'':20}query log: {run.log_rows:,} rows, {run.log_rate:,.0f} rows/s")
        parts.append(f"end to end, the last {run.log_lag:.1f}s after the run;")
        parts.append(f"{run.missing:,} answered queries never reached SQLite")
    if run.logged is not None:
        parts.append(f"\n{'':20}dnsmasq logged {run.logged:,} queries")
    return " ".join(parts)


def _version(cmd: list[str], marker: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    lines = (done.stdout + done.stderr).splitlines()
    return next((line.strip() for line in lines if marker in line), "version unknown")


def header(settings: Settings, quick: bool) -> None:
    say(
        f"dns_bench{' --quick' if quick else ''}: {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}"
    )
    say(
        f"  {_version(['/usr/sbin/dnsmasq', '--version'], 'version')}; "
        f"dnsperf {_version([dnsperf.DNSPERF, '-h'], 'Version')}"
    )
    pin = f"server on CPU {SERVER_CPU}, dnsperf and upstream on CPU {LOAD_CPU}"
    say(f"  {pin if TWO_CORES else 'no CPU pinning (1 CPU)'} (taskset)")
    say(
        f"  flat out: dnsperf -T 1 -c {dnsperf.CLIENTS} -q {dnsperf.OUTSTANDING} "
        f"-l {settings.seconds:g}; paced: -Q {PACED_QPS} -c {dnsperf.PACED_CLIENTS} "
        f"-q {dnsperf.PACED_OUTSTANDING} -l {settings.paced_seconds:g} -v"
    )


def code_stamp() -> dict[str, float]:
    """Modification times of HouseRules' own code, to notice it changing under the benchmark."""
    root = Path(__file__).resolve().parent.parent / "agent"
    return {str(p.relative_to(root.parent)): p.stat().st_mtime for p in root.rglob("*.py")}


def report(bench: Bench, stamp: dict[str, float]) -> None:
    say()
    say(table(bench.runs, bench.compile_run))
    say()
    say("dnsmasq+log: as dnsmasq, plus --log-queries --log-async to a file, as Pi-hole runs it.")
    say("dnsmasq matches listed names exactly (as Pi-hole's lists do); HouseRules also blocks the")
    say("subdomains in the blocked queries, which dnsmasq answers from its cache instead.")
    busy = [r for r in bench.runs if r.others > CONTENDED]
    if busy:
        names = ", ".join(f"{r.workload} {r.server} ({r.others:.2f})" for r in busy)
        say(f"WARNING: other processes used over {CONTENDED} CPUs during: {names}.")
        say("Those figures understate the server; run again on a quiet machine.")
    now = code_stamp()
    changed = sorted(p for p in set(stamp) | set(now) if stamp.get(p) != now.get(p))
    if changed:
        say(f"WARNING: HouseRules' code changed during the benchmark: {', '.join(changed)}.")
        say("Runs before and after the change measured different programs.")
    say()
    say("Goals:")
    for line in goals(bench.runs, bench.compile_run):
        say(f"  {line}")
    say()
    say("Goals on a small Pi (all in this run, against dnsmasq's own figures where it has them):")
    for line in pi_goals(bench.runs, bench.compile_run):
        say(f"  {line}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100k names, 3 s runs: a smoke check")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so `finally` stops the servers
    header(settings, args.quick)
    stamp = code_stamp()
    with tempfile.TemporaryDirectory(prefix="houserules-dnsbench-") as tmp:
        bench = Bench(Path(tmp), settings, args.quick)
        try:
            bench.prepare()
            bench.run_all()
        except BenchError as exc:
            say(f"dns_bench: {exc}")
            return 1
        finally:
            bench.fleet.stop_all()
        report(bench, stamp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
