"""When the query log must drop rows, repeats go first: a flood cannot hide a visit.

The last test floods the real server (real log pipe, real writer process, real SQLite) from a
child's address while that child looks up names one by one; every one reaches the log."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from dnslib import DNSRecord

from agent import config as config_mod
from agent.store.firstrows import FirstRows
from agent.store.logpipe import ROW_BYTES, LogPipe
from agent.store.querylog import LogEntry, count_rows

from agenttools import RunningAgent, until, write_config
from dnstools import Upstream, send_raw

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 60  # the start of a minute


def flat(ts: float, client: str, name: str) -> LogEntry:
    return LogEntry(ts, client, None, "Sam", name, "A", "allow", "", "", None, None)


def shared(ts: float, client: str, name: str) -> tuple:
    """A row as the DNS server hands it over: (ts, head, upstream, latency, cached)."""
    head = (client, None, "Sam", name, "A", "allow", "", "", None, None)
    return (ts, head, "127.0.0.1:53", 1.0, False)


@pytest.mark.parametrize("make", [flat, shared])
def test_the_first_row_of_each_client_and_name_in_a_minute_is_kept(make):
    firsts = FirstRows()
    assert firsts.first(make(T0, "10.0.0.2", "a.test"))
    assert not firsts.first(make(T0 + 1, "10.0.0.2", "a.test"))
    assert firsts.first(make(T0 + 2, "10.0.0.3", "a.test")), "another device"
    assert firsts.first(make(T0 + 3, "10.0.0.2", "b.test")), "another name"
    assert firsts.first(make(T0 + 60, "10.0.0.2", "a.test")), "a new minute"


def test_past_its_memory_every_pair_counts_as_new():
    firsts = FirstRows(max_pairs=10)
    for i in range(10):
        assert firsts.first(flat(T0, "10.0.0.2", f"n{i}.test"))
    assert firsts.first(flat(T0, "10.0.0.2", "n11.test"))
    assert firsts.first(flat(T0, "10.0.0.2", "n11.test")), "never a false repeat"


def test_a_full_minute_of_pairs_is_kept_in_a_small_table():
    """A flood of new names fills the memory every minute, in the DNS process and in the log
    writer's: its set stays at a 32,768-slot table (0.5 MB), not the next size up (2 MB)."""
    firsts = FirstRows()
    for i in range(firsts.max_pairs + 1_000):
        assert firsts.first(shared(T0, "10.0.0.2", f"n{i}.test"))
    assert len(firsts._seen) == firsts.max_pairs
    assert sys.getsizeof(firsts._seen) < 600_000


def test_a_crowded_pipe_drops_repeats_and_keeps_every_first(tmp_path):
    pipe = LogPipe(tmp_path / "hr.db", buffer_bytes=100 * ROW_BYTES)  # not started: no drain
    flood_kept = 0
    for i in range(1_000):
        flood_kept += pipe.submit(shared(T0 + i / 100, "10.0.0.2", "flood.test"))
        if i % 20 == 0:
            name = f"visit-{i}.test"
            assert pipe.submit(shared(T0 + i / 100, "10.0.0.2", name)), name
    # rows pass freely until half the buffer waits; past that, only firsts
    assert 40 <= flood_kept <= 51
    assert pipe.dropped == 1_000 - flood_kept
    # full at last: even a first is dropped (and counted) rather than waiting
    i = 0
    while pipe.submit(shared(T0 + 11, "10.0.0.3", f"more-{i}.test")):
        i += 1
    assert len(pipe._rows) == 100 and pipe.dropped == 1_000 - flood_kept + 1


# 400 questions every 2 ms: more than the log writer takes here, although the sender is woken
# as soon as rows pile up
FLOODER = """
import socket, sys, time
port, source, packet = int(sys.argv[1]), sys.argv[2], bytes.fromhex(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((source, 0))
s.setblocking(False)
while True:
    for _ in range(400):
        try:
            s.sendto(packet, ("127.0.0.1", port))
        except OSError:
            pass
    time.sleep(0.002)
"""


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


def _ask_until_answered(port: int, name: str, source: str) -> None:
    packet = DNSRecord.question(name, "A").pack()
    for _ in range(20):  # under the flood the kernel may drop the question itself: ask again
        try:
            send_raw(port, packet, source=source, timeout=0.5)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"{name} was never answered")


def test_a_flood_from_a_childs_address_cannot_hide_the_childs_lookups(tmp_path, upstream):
    path = write_config(tmp_path, upstream.address)
    text = path.read_text().replace("[dns]\n", "[dns]\nclient_rate_limit = 0\n", 1)
    # a small log buffer, so this machine's flood overflows it as a big one would on a Pi
    path.write_text(text.replace("[store]\n", "[store]\nlog_queue_kb = 30\nlog_spool_mb = 0\n", 1))
    cfg = config_mod.load(path)
    child = "127.0.0.5"
    with RunningAgent(cfg) as running:
        port, writer = running.port, running.agent.writer
        flood = DNSRecord.question("example.com", "A").pack().hex()
        flooder = subprocess.Popen([sys.executable, "-c", FLOODER, str(port), child, flood])
        try:
            until(lambda: writer.dropped > 0, 20.0)  # the log is overflowing now
            dropped_before = writer.dropped
            names = [f"visit-{i}.example.net" for i in range(80)]
            for name in names:
                _ask_until_answered(port, name, child)
            assert writer.flush(20)  # the writer process's counts, as of now
            assert writer.dropped > dropped_before, "the flood went on while the child asked"
        finally:
            flooder.kill()
            flooder.wait()
        assert writer.flush(20)
    db = cfg.database_path
    logged = _names_logged(db, child)
    assert set(names) <= logged, f"missing: {sorted(set(names) - logged)}"
    assert _count(db, child, "example.com") > 0  # the flood is in the log too, just not all of it


def _names_logged(db, client: str) -> set[str]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT DISTINCT name FROM query_log WHERE client = ?", (client,))
        return {r[0] for r in rows}


def _count(db, client: str, name: str) -> int:
    import sqlite3

    with sqlite3.connect(db) as conn:
        sql = "SELECT COUNT(*) FROM query_log WHERE client = ? AND name = ?"
        return conn.execute(sql, (client, name)).fetchone()[0]


def test_flush_still_accounts_for_every_row(tmp_path):
    """Repeats dropped in the writer process are counted as dropped, never lost silently."""
    pipe = LogPipe(tmp_path / "hr.db", queue_bytes=40 * ROW_BYTES, interval=0.01)
    pipe.start()
    try:
        started = time.monotonic()
        sent = 0
        while time.monotonic() - started < 0.5:
            for _ in range(200):
                pipe.submit(shared(T0 + 1, "10.0.0.2", "flood.test"))
                sent += 1
            pipe.submit(shared(T0 + 1, "10.0.0.2", f"visit-{sent}.test"))
            sent += 1
        assert pipe.flush(10)
    finally:
        assert pipe.stop()
    assert pipe.written + pipe.dropped == sent
    assert count_rows(tmp_path / "hr.db") == pipe.written
