"""Running dnsperf and reading its report, for bench/dns_bench.py.

dnsperf prints only the average and standard deviation of latency, but with `-v` it prints
one line per answer (`> NOERROR name A 0.000123`, latency in seconds); the paced runs use
those lines for percentiles.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DNSPERF = shutil.which("dnsperf") or "/usr/bin/dnsperf"
TASKSET = shutil.which("taskset")
# Flat-out runs. Chosen by trying -c 1..64 and -q 50..2000 against both servers on this 2-core
# machine (dnsperf pinned to one core, the server to the other): one thread, 16 sockets and 500
# outstanding queries. dnsmasq peaks there; HouseRules gains a little more with -q 2000, only by
# queueing (60 ms average latency). From -q 200 up, dnsmasq loses a few hundred queries of the
# opening burst: its socket receive buffer is the kernel default, HouseRules asks for 4 MB.
CLIENTS = 16
OUTSTANDING = 500
# Warm-up runs: gentle, because dnsmasq forwards at most 150 queries at once by default.
WARM_CLIENTS = 1
WARM_OUTSTANDING = 100
PACED_CLIENTS = 4
PACED_OUTSTANDING = 200
TIMEOUT = 2  # seconds before dnsperf counts a query as lost

_NUMBER = r"([0-9.]+)"
_FIELDS = {
    "sent": rf"Queries sent:\s+{_NUMBER}",
    "completed": rf"Queries completed:\s+{_NUMBER}",
    "lost": rf"Queries lost:\s+{_NUMBER}",
    "seconds": rf"Run time \(s\):\s+{_NUMBER}",
    "qps": rf"Queries per second:\s+{_NUMBER}",
    "avg_latency": rf"Average Latency \(s\):\s+{_NUMBER}",
}


@dataclass
class PerfResult:
    sent: int = 0
    completed: int = 0
    lost: int = 0
    seconds: float = 0.0
    qps: float = 0.0
    avg_latency: float = 0.0
    rcodes: str = ""
    latencies: list[float] = field(default_factory=list)  # seconds, from -v
    ok: bool = False
    error: str = ""

    def percentile(self, p: float) -> float | None:
        """Nearest-rank percentile of the answered queries' latency, in seconds."""
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, int(round(p / 100 * len(ordered))) - 1))
        return ordered[rank]


def parse(text: str) -> PerfResult:
    result = PerfResult()
    for key, pattern in _FIELDS.items():
        m = re.search(pattern, text)
        if m:
            kind = type(getattr(result, key))
            setattr(result, key, kind(float(m.group(1))))
    m = re.search(r"Response codes:\s+(.*)", text)
    result.rcodes = m.group(1).strip() if m else ""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5 and parts[0] == ">":
            try:
                result.latencies.append(float(parts[4]))
            except ValueError:
                continue
    result.ok = "Queries per second" in text
    return result


def run(
    port: int,
    queries: Path,
    seconds: float,
    *,
    cpu: int | None,
    qps: int | None = None,
    once: bool = False,
    warm: bool = False,
    latencies: bool = True,
) -> PerfResult:
    """One dnsperf run: flat out, gentle (`warm`), or paced at `qps` (with per-query latencies
    unless told not to).

    `once` stops at the end of the file (and at `seconds`, whichever comes first)."""
    cmd = [DNSPERF, "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
    cmd += ["-l", f"{seconds:g}", "-T", "1", "-t", str(TIMEOUT)]
    if qps:
        cmd += ["-c", str(PACED_CLIENTS), "-q", str(PACED_OUTSTANDING), "-Q", str(qps)]
        cmd += ["-v"] if latencies else []
    elif warm:
        cmd += ["-c", str(WARM_CLIENTS), "-q", str(WARM_OUTSTANDING)]
    else:
        cmd += ["-c", str(CLIENTS), "-q", str(OUTSTANDING)]
    if once:
        cmd += ["-n", "1"]
    if cpu is not None and TASKSET:
        cmd = [TASKSET, "-c", str(cpu), *cmd]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        return PerfResult(error="dnsperf did not finish in time")
    result = parse(done.stdout)
    if not result.ok:
        result.error = (done.stderr or done.stdout).strip()[-300:]
    return result
