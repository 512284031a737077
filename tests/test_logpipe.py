"""The query log through its writer process: rows arrive, drops are counted, crashes recover."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import time

from dnslib import DNSRecord

from agent import config as config_mod
from agent.store.logpipe import BUFFER_ROWS, ROW_BYTES, WAKE_SHARE, LogPipe
from agent.store.querylog import LogEntry, count_rows, recent
from agent.store.sqlite import StoreError

from agenttools import RunningAgent, until, write_config
from dnstools import Upstream, ZoneResolver


def row(i: int) -> LogEntry:
    return LogEntry(1_700_000_000.0 + i, "192.168.1.20", "aa:bb:cc:dd:ee:ff", "Sam",
                    f"n{i}.example.com", "A", "block", "age:tiktok", "Blocked: TikTok is for 13+",
                    "social", "tiktok", None, None, True)  # fmt: skip


def test_rows_reach_the_database_through_the_writer_process(tmp_path):
    pipe = LogPipe(tmp_path / "hr.db", interval=0.01)
    pipe.start()
    try:
        for i in range(2_000):
            assert pipe.submit(row(i))
        assert pipe.flush(10)
        assert pipe.written == 2_000 and pipe.dropped == 0
        assert recent(tmp_path / "hr.db", 1)[0] == row(1_999)
    finally:
        assert pipe.stop()
    assert count_rows(tmp_path / "hr.db") == 2_000


def test_the_dns_servers_shared_heads_arrive_as_whole_rows(tmp_path):
    """The DNS server hands over (ts, head, upstream, latency, cached), one head shared by
    every answer to a question; the database gets ordinary rows, and flat rows still pass."""
    pipe = LogPipe(tmp_path / "hr.db", interval=0.01)
    pipe.start()
    head = tuple(row(0)[1:11])
    try:
        for i in range(3):
            assert pipe.submit((1_700_000_100.0 + i, head, "127.0.0.1:53", 1.5, False))
        assert pipe.submit(row(7))
        assert pipe.flush(10)
    finally:
        assert pipe.stop()
    got = recent(tmp_path / "hr.db", 4)
    assert sorted(got) == sorted(
        [LogEntry(1_700_000_100.0 + i, *head, "127.0.0.1:53", 1.5, False) for i in range(3)]
        + [row(7)]
    )


def test_a_full_queue_drops_and_counts_without_waiting(tmp_path):
    pipe = LogPipe(tmp_path / "hr.db", buffer_bytes=100 * ROW_BYTES)  # not started: no drain
    accepted = sum(pipe.submit(row(i)) for i in range(250))
    assert accepted == 100 and pipe.dropped == 150


def test_rows_piling_up_wake_the_sender_long_before_its_interval(tmp_path):
    """The sender's timer is an hour away: an eighth of the room taken wakes it, once."""
    pipe = LogPipe(tmp_path / "hr.db", interval=3600)
    pipe.start()
    try:
        mark = BUFFER_ROWS // WAKE_SHARE
        for i in range(mark):
            pipe.submit(row(i))
        assert not pipe._wake.is_set()  # up to the mark, the DNS path only appended
        pipe.submit(row(mark))
        until(lambda: pipe.waiting == 0, 10, "the rows to leave for the writer process")
    finally:
        assert pipe.stop()
    assert pipe.written == mark + 1 and pipe.dropped == 0


def test_nothing_is_dropped_at_a_steady_rate_the_writer_takes(tmp_path):
    """10,000 rows at 5,000 a second, five times what the buffer holds, with the sender's
    timer an hour away: its wake-ups alone carry every row (without them 8,000 are lost)."""
    pipe = LogPipe(tmp_path / "hr.db", interval=3600)
    pipe.start()
    total, rate = 10_000, 5_000
    assert total > 4 * BUFFER_ROWS
    try:
        started, sent = time.monotonic(), 0
        while sent < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            while sent < due:
                assert pipe.submit(row(sent)), f"row {sent} dropped"
                sent += 1
            time.sleep(0.001)  # pacing the load, not waiting for a result
        assert pipe.flush(20)
    finally:
        assert pipe.stop()
    assert (pipe.written, pipe.dropped) == (total, 0)
    assert count_rows(tmp_path / "hr.db") == total


def test_stop_writes_what_is_left(tmp_path):
    pipe = LogPipe(tmp_path / "hr.db", interval=3600)  # the sender would not wake by itself
    pipe.start()
    for i in range(500):
        pipe.submit(row(i))
    assert pipe.stop()
    assert pipe.written == 500
    assert count_rows(tmp_path / "hr.db") == 500


def test_a_killed_writer_is_restarted_and_its_loss_is_counted(tmp_path):
    pipe = LogPipe(tmp_path / "hr.db", interval=0.01)
    pipe.start()
    try:
        for i in range(100):
            pipe.submit(row(i))
        assert pipe.flush(10) and pipe.written == 100
        first = pipe._proc
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
        for i in range(100, 300):
            pipe.submit(row(i))
        # the first send after the crash fails (counted), the writer comes back for the rest
        assert pipe.flush(10) or pipe.flush(10)
        assert pipe._proc is not first
        for i in range(300, 400):
            pipe.submit(row(i))
        assert pipe.flush(10)
        assert pipe.written + pipe.dropped == 400
        assert pipe.written >= 200
    finally:
        pipe.stop()
    assert count_rows(tmp_path / "hr.db") == pipe.written


def test_a_locked_database_never_blocks_submit(tmp_path):
    db = tmp_path / "hr.db"
    pipe = LogPipe(db, interval=0.01)
    pipe.start()
    try:
        pipe.submit(row(0))
        assert pipe.flush(10)
        locker = sqlite3.connect(db)
        locker.execute("BEGIN EXCLUSIVE")
        for i in range(1, 1_001):
            assert pipe.submit(row(i))  # returns at once although nothing can be written
        assert not pipe.flush(0.5)
        locker.rollback()
        locker.close()
        assert pipe.flush(15)
        assert pipe.written == 1_001
    finally:
        pipe.stop()


def test_a_writer_killed_mid_stream_leaves_counters_that_match_the_database(tmp_path, caplog):
    """The real agent answers a stream of queries; the writer process is killed once rows
    have been committed (no flush asked: its reports alone must keep the counts right) and
    while more wait in its queue. At shutdown, written is what the database holds and dropped
    is exactly the rest."""
    up = Upstream(ZoneResolver()).start()
    try:
        cfg = config_mod.load(write_config(tmp_path, up.address))
        caplog.set_level(logging.INFO)
        with RunningAgent(cfg, jobs=False) as running:
            db, pipe = cfg.database_path, running.agent.writer
            asked = 0
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(3)

                def one() -> None:
                    nonlocal asked
                    q = DNSRecord.question(f"n{asked}.dns.google")  # blocked: no upstream
                    s.sendto(q.pack(), ("127.0.0.1", running.port))
                    assert DNSRecord.parse(s.recvfrom(4096)[0]).header.id == q.header.id
                    asked += 1

                def committed() -> bool:
                    for _ in range(200):
                        one()
                    try:
                        return count_rows(db) > 0
                    except StoreError:  # the writer has not made its table yet
                        return False

                until(committed, 60)
                for _ in range(300):  # these wait in the writer's queue (commits are 5 s apart)
                    one()
                first = pipe._proc
                os.kill(first.pid, signal.SIGKILL)
                first.wait(5)
                for _ in range(500):
                    one()
                until(lambda: pipe._proc is not first, 10)  # noticed on the next send
                for _ in range(100):
                    one()
        in_db = count_rows(db)
        assert pipe.written == in_db
        assert pipe.written + pipe.dropped + pipe.rejected == asked
        assert pipe.dropped == asked - in_db > 0  # the rows in the killed queue, exactly
        assert f"stopped; {in_db} query-log rows written, {asked - in_db} dropped" in caplog.text
    finally:
        up.stop()


def test_the_batch_a_killed_writer_was_committing_is_looked_up_in_the_database(tmp_path):
    """Killed between naming a batch and reporting its COMMIT: the batch counts as written
    only if its last row is in the database."""
    for landed in (True, False):
        db = tmp_path / f"hr-{landed}.db"
        pipe = LogPipe(db, interval=3600)
        pipe.start()
        for i in range(100):
            pipe.submit(row(i))
        assert pipe.flush(10) and pipe.written == 100
        before = pipe.written
        conn = sqlite3.connect(db)
        last_id = conn.execute("SELECT max(id) FROM query_log").fetchone()[0] + 50
        if landed:  # what the killed process's COMMIT would have left
            conn.executemany(
                "INSERT INTO query_log (ts, client, device, child, name, qtype, action, rule, "
                "reason, category, app, upstream, latency_ms, cached) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [row(1000 + i) for i in range(50)],
            )
            conn.commit()
        conn.close()
        os.kill(pipe._proc.pid, signal.SIGKILL)
        pipe._proc.wait(5)
        pipe._reader.join(5)
        pending = (before, last_id, row(1049).ts, row(1049).name, 50, 0)
        pipe._status = ("status", 0, before, 0, 0, 0, "", pending, 0, 0)
        pipe._sent += 50
        pipe._stopping.set()
        pipe._settle(0, "killed")
        assert (pipe.written, pipe.dropped) == ((150, 0) if landed else (100, 50))
        pipe.stop()
        assert count_rows(db) == pipe.written
