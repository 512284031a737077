"""HouseRules under test, for bench/dns_bench.py: its config, household, start and log count.

It is driven only through its command line (`init`, `child add`, `device add`, `run`), as a
household would, so the benchmark measures the installed program, imports and all.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BYPASS = ROOT / "blocklists" / "bypass.txt"
HOUSEHOLD = (
    ["child", "add", "Sam", "--born", "2014-03-01"],
    ["child", "add", "Alex", "--born", "2010-06-01"],
    ["device", "add", "--ip", "127.0.0.1", "--child", "Sam", "--name", "bench-tablet"],
)
POLL = 0.1
COMMIT_WAIT = 6.0  # the log writer commits at least every 5 s (agent/store/logproc.py)
STOPPED = re.compile(r"stopped; (\d+) query-log rows written, (\d+) dropped")


def executable() -> Path:
    beside = Path(sys.executable).with_name("houserules")
    found = beside if beside.exists() else shutil.which("houserules")
    if not found:
        raise SystemExit("houserules is not installed: run `make run` or pip install -e . first")
    return Path(found)


@dataclass
class LogCount:
    """One `run`'s query log: what its last line says, and what the database holds."""

    written: int | None
    dropped: int | None
    rows_in_db: int


class HouseRules:
    def __init__(self, folder: Path, port: int, upstream: int, hosts: Path, quick: bool) -> None:
        self.folder, self.port = folder, port
        self.config = folder / "houserules.toml"
        self.db = folder / "hr.db"
        self.index = folder / "index"
        self.exe = executable()
        self.household = "none"
        self.config.write_text(
            f"""[dns]
listen = ["127.0.0.1:{port}"]
upstream_timeout = 1.0
cache_size = 10000

[upstream]
servers = ["127.0.0.1:{upstream}"]

[store]
url = "sqlite:///{self.db}"

[blocklists]
compiled_dir = "{self.index}"

[[blocklists.sources]]
name = "bypass"
category = "bypass"
path = "{BYPASS}"

[[blocklists.sources]]
name = "bench-{"100k" if quick else "1m"}"
category = "adult"
path = "{hosts}"
format = "hosts"
"""
        )

    def cli(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.exe), "--config", str(self.config), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def init(self) -> tuple[float, str]:
        """`houserules init` (database and compiled index); its seconds and last line."""
        started = time.perf_counter()
        done = self.cli("init")
        if done.returncode != 0:
            raise SystemExit(f"houserules init failed:\n{done.stdout}{done.stderr}")
        return time.perf_counter() - started, done.stdout.strip().splitlines()[-1]

    def add_household(self) -> str:
        """Sam (12, with the benchmark's device) and Alex (16); 'none' and why if it fails."""
        for args in HOUSEHOLD:
            done = self.cli(*args, timeout=60)
            if done.returncode != 0:
                why = (done.stderr or done.stdout).strip().splitlines()[-1:]
                self.household = f"none ({' '.join(args[:2])} failed: {' '.join(why)})"
                return self.household
        self.household = "Sam 12 (owns 127.0.0.1) and Alex 16"
        return self.household

    def command(self) -> list[str]:
        return [str(self.exe), "--config", str(self.config), "run"]

    def forget_index(self) -> None:
        """So the next `run` compiles the lists before it answers."""
        shutil.rmtree(self.index, ignore_errors=True)

    def rows(self) -> int:
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5) as conn:
                return conn.execute("SELECT count(*) FROM query_log").fetchone()[0]
        except sqlite3.Error:
            return -1

    def wait_rows(self, target: int, limit: float) -> tuple[int, float]:
        """The row count once it reaches `target`, or stops growing for longer than the log
        writer waits between commits (rows that were dropped never arrive); bounded. With the
        perf_counter time at which the count last grew (or the first reading)."""
        last, since, grew = self.rows(), time.monotonic(), time.perf_counter()
        deadline = since + limit
        for _ in range(int(limit / POLL) + 1):
            if last >= target or time.monotonic() > deadline:
                break
            time.sleep(POLL)
            now = self.rows()
            if now != last:
                last, since, grew = now, time.monotonic(), time.perf_counter()
            elif time.monotonic() - since > COMMIT_WAIT:
                break
        return last, grew

    def log_count(self, stderr: str, rows_before: int) -> LogCount:
        found = STOPPED.findall(stderr)  # the last such line counts
        m = found[-1] if found else None
        written, dropped = (int(m[0]), int(m[1])) if m else (None, None)
        return LogCount(written, dropped, self.rows() - rows_before)
