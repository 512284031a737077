"""Starting, probing, measuring and stopping the DNS servers of bench/dns_bench.py.

Every process is started through `Fleet.spawn`, which remembers it, so `Fleet.stop_all`
(called from a `finally`) leaves nothing running. All sockets are on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from dnslib import DNSError, DNSRecord

DNSMASQ = "/usr/sbin/dnsmasq"
HOST = "127.0.0.1"
TASKSET = shutil.which("taskset")
PROBE_EVERY = 0.005  # seconds between start-up probes
PROBE_WAIT = 0.05  # seconds one probe waits for its answer
ANSWERED = (0, 3)  # NOERROR, NXDOMAIN


def _die_with_parent() -> None:
    """Runs in the child before exec: if the benchmark is killed outright, so is the server."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    label: str
    popen: subprocess.Popen
    stderr: Path
    spawned_ns: int
    port: int
    first_answer: float | None = None  # seconds from spawn to the first good answer

    @property
    def pid(self) -> int:
        return self.popen.pid


@dataclass
class Fleet:
    folder: Path
    procs: list[Proc] = field(default_factory=list)

    def spawn(self, label: str, cmd: list[str], port: int, cpu: int | None) -> Proc:
        if cpu is not None and TASKSET:
            cmd = [TASKSET, "-c", str(cpu), *cmd]  # taskset execs: the PID is the server's
        stderr = self.folder / f"{label}-{len(self.procs)}.stderr"
        with open(stderr, "wb") as err:
            started = time.perf_counter_ns()
            popen = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                preexec_fn=_die_with_parent,  # safe: the benchmark runs no threads
            )
        proc = Proc(label, popen, stderr, started, port)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, timeout: float = 30.0) -> str:
        """SIGTERM, wait (bounded), SIGKILL if needed; returns what it wrote to stderr."""
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
        if proc in self.procs:
            self.procs.remove(proc)
        return proc.stderr.read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in list(self.procs):
            try:
                self.stop(proc, timeout=10.0)
            except Exception:  # keep going: every other process must still be stopped
                proc.popen.kill()


def ask(port: int, name: str, qtype: str = "A", wait: float = PROBE_WAIT) -> int | None:
    """One UDP question; the answer's rcode, or None if nothing came back in time."""
    query = DNSRecord.question(name, qtype)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(wait)
        try:
            s.connect((HOST, port))
            s.send(query.pack())
            for _ in range(16):  # a stray reply (another ID) is skipped, a few times at most
                reply = DNSRecord.parse(s.recv(4096))
                # qr: a reply, not our own question come back. With nothing listening yet, the
                # kernel can pick the target port as this socket's own, and it hears itself.
                if reply.header.id == query.header.id and reply.header.qr:
                    return reply.header.rcode
        except (OSError, DNSError):  # refused (not listening yet), timed out, or garbage
            return None
        return None


def wait_first_answer(proc: Proc, name: str, limit: float) -> float | None:
    """Seconds from spawn to the first NOERROR/NXDOMAIN answer, polling; None past `limit`."""
    deadline = proc.spawned_ns + int(limit * 1e9)
    for _ in range(int(limit / PROBE_EVERY) + 1):
        if proc.popen.poll() is not None:
            return None
        if ask(proc.port, name) in ANSWERED:
            proc.first_answer = (time.perf_counter_ns() - proc.spawned_ns) / 1e9
            return proc.first_answer
        if time.perf_counter_ns() > deadline:
            return None
        time.sleep(PROBE_EVERY)
    return None


_STATUS_KEYS = ("VmRSS", "VmHWM", "RssAnon", "RssFile")


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in _STATUS_KEYS:
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            continue
    return kids


@dataclass(frozen=True)
class Memory:
    """MB, summed over the process and its descendants (`children` of them)."""

    rss: float
    hwm: float
    anon: float
    file: float
    children: int
    main_rss: float  # the process alone
    roles: tuple[tuple[str, float], ...] = ()  # RSS of each process in the tree, by what it is
    # (what, RSS, anon, file) of every process, the server first: anon is the heap (code
    # objects, data), file is mapped files (libraries, the compiled index) and can be shared
    split: tuple[tuple[str, float, float, float], ...] = ()


ROLES = (  # what a HouseRules process is, from its command line
    ("agent.store.logproc", "log writer"),
    ("houserules.jobs", "jobs (dashboard, insights, email)"),
    ("agent.lists.compile", "list compiler"),
)


def _role(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return "?"
    return next((name for marker, name in ROLES if marker in cmdline), "other")


def memory(pid: int) -> Memory:
    totals = dict.fromkeys(_STATUS_KEYS, 0)
    main = _status_kb(pid).get("VmRSS", 0) / 1024
    todo, seen = [pid], 0
    roles: list[tuple[str, float]] = []
    split: list[tuple[str, float, float, float]] = []
    for _ in range(256):  # bounded walk of the process tree
        if not todo:
            break
        current = todo.pop()
        status = _status_kb(current)
        for key, kb in status.items():
            totals[key] += kb
        if current != pid:
            roles.append((_role(current), status.get("VmRSS", 0) / 1024))
        kb = [status.get(key, 0) / 1024 for key in ("VmRSS", "RssAnon", "RssFile")]
        split.append(("server" if current == pid else _role(current), kb[0], kb[1], kb[2]))
        todo += _children(current)
        seen += 1
    mb = {key: kb / 1024 for key, kb in totals.items()}
    return Memory(
        mb["VmRSS"],
        mb["VmHWM"],
        mb["RssAnon"],
        mb["RssFile"],
        seen - 1,
        main,
        tuple(roles),
        tuple(split),
    )


def upstream_cmd(port: int, log: Path) -> list[str]:
    """A local authority for every name: fast, never the bottleneck, long TTLs."""
    return [
        DNSMASQ,
        "--no-resolv",
        "--no-hosts",
        f"--port={port}",
        f"--listen-address={HOST}",
        "--bind-interfaces",
        "--address=/#/192.0.2.1",
        "--address=/#/2001:db8::1",
        "--local-ttl=3600",
        "--keep-in-foreground",
        "--user=root",
        "--pid-file=",
        f"--log-facility={log}",
    ]


def dnsmasq_cmd(port: int, upstream: int, hosts: Path, log: Path, log_queries: bool) -> list[str]:
    """dnsmasq as Pi-hole's core: the same list as an extra hosts file, forwarding upstream."""
    cmd = [
        DNSMASQ,
        "--no-resolv",
        "--no-hosts",
        f"--server={HOST}#{upstream}",
        "--cache-size=10000",
        f"--addn-hosts={hosts}",
        f"--port={port}",
        f"--listen-address={HOST}",
        "--bind-interfaces",
        "--keep-in-foreground",
        "--user=root",
        "--pid-file=",
        f"--log-facility={log}",  # start-up messages only, unless log_queries
    ]
    if log_queries:
        cmd += ["--log-queries", "--log-async"]  # what Pi-hole's own config sets
    return cmd


def houserules_cmd(houserules: Path, config: Path) -> list[str]:
    return [str(houserules), "--config", str(config), "run"]


# -- other work on the machine ---------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def process_seconds(pid: int) -> float:
    """CPU seconds used by one process (all its threads) so far; 0 once it is gone."""
    return _stat(pid)[1]


def _stat(pid: int | str) -> tuple[int, float]:
    """(parent PID, CPU seconds) of a process, or (0, 0.0) if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, 0.0
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def _others(ours: set[int]) -> dict[int, float]:
    """CPU seconds so far of every process that is not ours, nor a child of ours."""
    me, out = os.getpid(), {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in ours:
            continue
        parent, seconds = _stat(entry.name)
        if parent != me and parent not in ours:
            out[int(entry.name)] = seconds
    return out


class CpuWatch:
    """How much CPU processes outside the benchmark used over a span of time. (Kernel network
    work done in softirq context is nobody's, so it is not counted.)"""

    def __init__(self, pids: list[int]) -> None:
        self.ours = {os.getpid(), *pids}
        self.started = time.monotonic()
        self.before = _others(self.ours)

    def others(self) -> float:
        """Average CPUs (0..ncpu) used by everything else since the start."""
        elapsed = max(time.monotonic() - self.started, 1e-3)
        after = _others(self.ours)
        used = sum(max(0.0, s - self.before.get(pid, 0.0)) for pid, s in after.items())
        return used / elapsed


def wait_quiet(pids: list[int], limit: float, below: float = 0.15) -> float:
    """Wait (at most `limit` s) until other processes use < `below` CPUs over half a second;
    returns what they used in the last half second."""
    used = 0.0
    for _ in range(int(limit / 0.5) + 1):
        watch = CpuWatch(pids)
        time.sleep(0.5)
        used = watch.others()
        if used < below:
            break
    return used
