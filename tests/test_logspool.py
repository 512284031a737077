"""The query log when the database is away: rows wait on local disk and arrive once it is back,
in order; past the spool's bound they are dropped and counted. Against a real PostgreSQL that
the tests stop and start, and a real SQLite file held locked."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import pytest

from agent.store.logpipe import LogPipe
from agent.store.logspool import Spool
from agent.store.querylog import LogEntry, count_rows
from tests.pgtools import PgServer, pg_server, pg_url  # noqa: F401

from agenttools import until

HEAD = ("192.168.1.20", "aa:bb:cc:dd:ee:ff", "Sam", "", "A", "allow", "", "", None, None)


def dns_row(i: int) -> tuple:
    """A row as the DNS server hands it over (ts, head, upstream, latency, cached)."""
    head = HEAD[:3] + (f"n{i}.example.com",) + HEAD[4:]
    return (1_700_000_000.0 + i, head, "127.0.0.1:53", 1.5, False)


def pg_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT ts, name FROM query_log ORDER BY id").fetchall()


def submit_quickly(pipe: LogPipe, rows: range) -> None:
    """Submit rows in small bursts; no submit may wait on the database."""
    for i in rows:
        started = time.perf_counter()
        assert pipe.submit(dns_row(i))
        assert time.perf_counter() - started < 0.05, "submit waited"
        if i % 50 == 0:
            pipe._send_pending()  # as the sender thread does every 50 ms


def test_rows_reach_postgresql_by_copy_with_every_field(pg_url):  # noqa: F811
    pipe = LogPipe(pg_url, interval=0.01)
    pipe.start()
    try:
        submit_quickly(pipe, range(5_000))  # more than the DNS side holds between two sends
        flat = LogEntry(1_800_000_000.0, "10.0.0.9", None, None, "x.test", "AAAA", "block",
                        "age:tiktok", "Blocked: TikTok is for 13+", "social", "TikTok",
                        None, None, True)  # fmt: skip
        assert pipe.submit(flat)
        assert pipe.flush(30)
        assert (pipe.written, pipe.dropped, pipe.rejected) == (5_001, 0, 0)
    finally:
        assert pipe.stop()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM query_log").fetchone()[0] == 5_001
        last = conn.execute(
            "SELECT ts, client, device, child, name, qtype, action, rule, reason, category, "
            "app, upstream, latency_ms, cached FROM query_log ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert LogEntry(*last) == flat
    assert [name for _, name in pg_rows(pg_url)[:3]] == ["n0.example.com", "n1.example.com",
                                                         "n2.example.com"]  # fmt: skip


def test_a_row_postgresql_refuses_is_rejected_alone(pg_url):  # noqa: F811
    from agent.store.logwriter import QueryLogWriter

    writer = QueryLogWriter(pg_url)
    writer.start()
    good = LogEntry(1.0, "10.0.0.2", None, None, "a.test", "A", "allow", "", "")
    writer.submit(good)
    writer.submit(good._replace(name=None))  # NOT NULL
    writer.submit(good._replace(name="nul\x00byte"))  # text PostgreSQL cannot hold
    writer.submit(good._replace(ts=2.0))
    assert writer.flush(30)
    assert (writer.written, writer.rejected) == (2, 2)
    writer.stop()
    assert pg_rows(pg_url) == [(1.0, "a.test"), (2.0, "a.test")]


@pytest.fixture
def own_pg():
    server = PgServer()
    yield server
    server.close()


def test_postgresql_stopped_rows_wait_on_disk_and_arrive_in_order(own_pg, tmp_path):
    url = own_pg.create_database()
    spool = tmp_path / "querylog.spool"
    pipe = LogPipe(url, queue_bytes=20_000, interval=3600, spool=spool, spool_bytes=5 << 20)
    pipe.start()
    try:
        submit_quickly(pipe, range(500))
        assert pipe.flush(30) and pipe.written == 500
        own_pg.stop()
        submit_quickly(pipe, range(500, 6_000))
        pipe._send_pending()
        until(lambda: pipe.kept > 0 and "127.0.0.1" in pipe.last_error, 30)
        assert spool.stat().st_size > 20_000  # past the memory's bound, the rows are on disk
        assert not pipe.flush(0.5)
        own_pg.start()
        assert pipe.flush(60)
        assert (pipe.written, pipe.dropped, pipe.rejected, pipe.kept) == (6_000, 0, 0, 0)
    finally:
        assert pipe.stop()
    rows = pg_rows(url)
    assert [name for _, name in rows] == [f"n{i}.example.com" for i in range(6_000)]
    assert spool.stat().st_size == 8, "an empty spool once everything is in the database"


def test_past_the_spools_bound_rows_are_dropped_and_counted(own_pg, tmp_path):
    url = own_pg.create_database()
    pipe = LogPipe(url, queue_bytes=20_000, spool=tmp_path / "s", spool_bytes=60_000)
    pipe.start()
    try:
        assert pipe.flush(30)  # the writer process answers
        own_pg.stop()
        submit_quickly(pipe, range(10_000))
        pipe._send_pending()
        until(lambda: pipe.dropped > 0, 30)
        assert (tmp_path / "s").stat().st_size <= 8 + 60_000  # the header and the bound
        own_pg.start()
        assert pipe.flush(60)
    finally:
        assert pipe.stop()
    in_db = len(pg_rows(url))
    assert pipe.written == in_db > 0
    assert pipe.dropped == 10_000 - in_db > 0
    assert pipe.written + pipe.dropped + pipe.rejected == 10_000


def test_stopped_while_postgresql_is_away_the_next_writer_sends_the_rows(own_pg, tmp_path):
    url = own_pg.create_database()
    spool = tmp_path / "querylog.spool"
    pipe = LogPipe(url, spool=spool, spool_bytes=5 << 20)
    pipe.start()
    assert pipe.flush(30)
    own_pg.stop()
    submit_quickly(pipe, range(300))
    pipe.stop()  # the rows in memory go to the spool, not away
    assert (pipe.written, pipe.dropped, pipe.kept) == (0, 0, 300)
    own_pg.start()
    again = LogPipe(url, spool=spool, spool_bytes=5 << 20)
    again.start()
    try:
        until(lambda: again.recovered == 300, 60)
    finally:
        assert again.stop()
    assert [name for _, name in pg_rows(url)] == [f"n{i}.example.com" for i in range(300)]


def test_a_sqlite_file_locked_too_long_spools_and_catches_up(tmp_path):
    db = tmp_path / "hr.db"
    spool = tmp_path / "querylog.spool"
    pipe = LogPipe(db, queue_bytes=20_000, interval=3600, spool=spool, spool_bytes=5 << 20)
    pipe.start()
    try:
        assert pipe.flush(30)
        locker = sqlite3.connect(db)
        locker.execute("BEGIN EXCLUSIVE")
        submit_quickly(pipe, range(5_000))
        pipe._send_pending()
        until(lambda: pipe.kept > 0, 30)
        locker.rollback()
        locker.close()
        assert pipe.flush(60)
        assert (pipe.written, pipe.dropped, pipe.kept) == (5_000, 0, 0)
    finally:
        assert pipe.stop()
    assert count_rows(db) == 5_000


def test_the_spool_keeps_frames_in_order_and_forgets_what_was_sent(tmp_path):
    spool = Spool(tmp_path / "s", limit=150)
    assert spool.append(b"a" * 40, 4) and spool.append(b"b" * 40, 4)
    assert spool.append(b"c" * 40, 4)
    assert not spool.append(b"d" * 40, 4), "past the bound"
    bodies, end, leftover = spool.peek(rows=1)
    assert bodies == [(b"a" * 40, 4)] and not leftover
    spool.advance(end)
    spool.close()
    again = Spool(tmp_path / "s", limit=150)  # a new writer: the sent frame is not sent again
    bodies, end, leftover = again.peek(rows=100)
    assert bodies == [(b"b" * 40, 4), (b"c" * 40, 4)] and leftover, "an earlier writer's frames"
    again.advance(end)
    assert again.used == 0, "all sent: the file starts again"
    assert again.append(b"e" * 40, 4)
    bodies, end, leftover = again.peek(rows=100)
    assert bodies == [(b"e" * 40, 4)] and not leftover
    again.advance(end)
    assert again.peek() is None and again.used == 0


def test_a_damaged_spool_costs_only_its_damaged_frames(tmp_path):
    """A spool left by an earlier writer with a frame that cannot be read: the rows around it
    are written, the writer keeps going, and nothing is sent twice."""
    from agent.store.logwriter import QueryLogWriter, pack

    spool = Spool(tmp_path / "querylog.spool", limit=1 << 20)
    assert spool.append(pack([dns_row(0), dns_row(1)]), 2)
    assert spool.append(b"\xff not marshal", 3)
    assert spool.append(pack([dns_row(2)]), 1)
    spool.close()
    db = tmp_path / "hr.db"
    writer = QueryLogWriter(db, spool=Spool(tmp_path / "querylog.spool", limit=1 << 20))
    writer.start()
    until(lambda: writer.recovered == 3, 10)
    assert writer.submit(LogEntry(1_800_000_000.0, "10.0.0.2", None, None, "new.test", "A",
                                  "allow", "", ""))  # fmt: skip
    assert writer.flush(10)
    assert writer.stop()
    assert (writer.written, writer.rejected, writer.recovered) == (1, 0, 3)
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM query_log ORDER BY id")]
    assert names == ["n0.example.com", "n1.example.com", "n2.example.com", "new.test"]
    assert Spool(tmp_path / "querylog.spool", limit=1).used == 0


def test_a_killed_writers_last_batch_is_looked_up_in_postgresql(pg_url):  # noqa: F811
    """Killed between naming a batch and reporting its COMMIT: on PostgreSQL as on SQLite, the
    batch counts as written only if its last row is in the database."""
    import os
    import signal

    for landed in (True, False):
        with psycopg.connect(pg_url) as conn:
            conn.execute("DROP TABLE IF EXISTS query_log")
        pipe = LogPipe(pg_url, interval=3600)
        pipe.start()
        for i in range(100):
            pipe.submit(dns_row(i))
        assert pipe.flush(30) and pipe.written == 100
        last = (1_800_000_049.0, "n1049.example.com")
        with psycopg.connect(pg_url) as conn:
            last_id = conn.execute("SELECT max(id) FROM query_log").fetchone()[0] + 50
            if landed:  # what the killed process's COMMIT would have left
                conn.execute(
                    "INSERT INTO query_log (id, ts, client, name, qtype, action, rule, reason, "
                    "cached) VALUES (%s, %s, 'c', %s, 'A', 'allow', '', '', false)",
                    (last_id, *last),
                )
        os.kill(pipe._proc.pid, signal.SIGKILL)
        pipe._proc.wait(5)
        pipe._reader.join(5)
        pipe._status = ("status", 0, 100, 0, 0, 0, "", (100, last_id, *last, 50, 0), 0, 0)
        pipe._sent += 50
        pipe._stopping.set()
        pipe._settle(0, "killed")
        assert (pipe.written, pipe.dropped) == ((150, 0) if landed else (100, 50))
        pipe.stop()


def test_a_spool_that_cannot_be_made_leaves_the_log_working(tmp_path):
    (tmp_path / "file").write_text("in the way")
    pipe = LogPipe(tmp_path / "hr.db", spool=tmp_path / "file" / "querylog.spool", spool_bytes=1000)
    pipe.start()
    try:
        for i in range(10):
            assert pipe.submit(dns_row(i))
        assert pipe.flush(30) and pipe.written == 10
    finally:
        assert pipe.stop()


def test_the_dns_process_answers_through_an_outage_and_its_rows_arrive_after(own_pg, tmp_path):
    """The real DNS process on PostgreSQL: with the database stopped every question is still
    answered, the rows wait on disk (a tiny memory queue), and once it is back they all arrive:
    the counters and the table agree exactly."""
    from dnslib import RCODE

    from agent import config as config_mod

    from agenttools import RunningAgent, write_config
    from dnstools import Upstream, ask

    url = own_pg.create_database()
    up = Upstream().start()
    try:
        path = write_config(tmp_path, up.address, store_url=url)
        path.write_text(path.read_text().replace("[store]\n", "[store]\nlog_queue_kb = 32\n", 1))
        cfg = config_mod.load(path)
        with RunningAgent(cfg, jobs=False) as running:
            pipe = running.agent.writer
            for i in range(20):
                assert ask(running.port, f"n{i}.dns.google").header.rcode == RCODE.NXDOMAIN
            assert pipe.flush(30)
            before = pipe.written + pipe.dropped
            own_pg.stop()
            for i in range(20, 2020):
                started = time.perf_counter()
                assert ask(running.port, f"n{i}.dns.google").header.rcode == RCODE.NXDOMAIN
                assert time.perf_counter() - started < 1.0, "an answer waited on the database"
            until(lambda: pipe.kept > 0, 30)  # past the memory's bound, on disk
            assert (tmp_path / "data" / "querylog.spool").stat().st_size > 8
            own_pg.start()
            assert pipe.flush(60)
            # every row accounted for: written, or dropped at the DNS side's small buffer
            # (it is as small as the writer's memory, here; a busy machine can fill it)
            assert pipe.written + pipe.dropped - before == 2000
            assert pipe.dropped < 200 and (pipe.rejected, pipe.kept) == (0, 0)
            written = pipe.written
        names = [name for _, name in pg_rows(url)]
        assert len(names) == written
        ours = [int(n[1:].split(".")[0]) for n in names if n.endswith(".dns.google")]
        assert ours == sorted(ours) and len(ours) > 1_800, "in the order they were asked"
    finally:
        up.stop()


def test_two_boxes_writing_at_once_never_hide_a_row_from_a_reader_that_follows_ids(pg_url):  # noqa: F811
    """Two boxes' log writers share one query_log. The insights job reads it by id (`id >` the
    last id it read). An id is taken at insert but seen at commit, so without care a batch
    that commits after a later-numbered one is passed over for good. Each batch takes the
    table's turn (an advisory lock until commit), so ids become visible in order."""
    import threading

    from agent.store.logpipe import flat_row
    from agent.store.logsink import PgSink

    sinks = [PgSink(pg_url), PgSink(pg_url)]
    assert sinks[0].write([flat_row(dns_row(0))], None) == (0, "")  # makes the table
    batches, size = 120, 40
    seen: set[int] = set()
    done = threading.Event()

    def box(sink: PgSink, start: int) -> None:
        for b in range(batches):
            rows = [flat_row(dns_row(start + b * size + i)) for i in range(size)]
            assert sink.write(rows, None) == (0, "")

    def follow() -> None:
        cursor = 0
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while True:
                finished = done.is_set()
                ids = [r[0] for r in conn.execute(
                    "SELECT id FROM query_log WHERE id > %s ORDER BY id", (cursor,)
                )]  # fmt: skip
                seen.update(ids)
                cursor = max(ids, default=cursor)
                if finished:
                    return

    boxes = [threading.Thread(target=box, args=(s, n * 100_000)) for n, s in enumerate(sinks)]
    reader = threading.Thread(target=follow)
    reader.start()
    for t in boxes:
        t.start()
    for t in boxes:
        t.join(120)
    done.set()
    reader.join(60)
    for sink in sinks:
        sink.close()
    total = len(pg_rows(pg_url))
    assert total == 1 + 2 * batches * size
    assert len(seen) == total - 1 or len(seen) == total  # the first row may precede the reader
