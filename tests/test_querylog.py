"""The query log writer against a real SQLite file: batching, drops, outages, pruning."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.store import (
    LogEntry,
    QueryLogRow,
    QueryLogWriter,
    count_rows,
    init_db,
    make_engine,
    prune_query_log,
    recent,
)
from agent.store import logsink as querylog  # where the writer's connection is opened
from agent.store.db import connect
from agent.store.insight_state import LoggedRow
from agent.store.querylog import EXPORT_COLUMNS

from hosttools import ignores_permissions


def entry(i: int, **changes: object) -> LogEntry:
    row = LogEntry(
        ts=1_700_000_000.0 + i,
        client="192.168.1.23",
        device="aa:bb:cc:dd:ee:ff",
        child="Sam",
        name=f"host{i}.example.com",
        qtype="A",
        action="allow",
        rule="",
        reason="",
    )
    return row._replace(**changes)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll with a deadline: for outcomes that flush() cannot wait on (a failure)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        threading.Event().wait(0.005)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "houserules.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    engine.dispose()
    return path


Writers = Callable[..., QueryLogWriter]


@pytest.fixture
def writers() -> Iterator[Writers]:
    """Make writers that are always stopped, even when a test fails."""
    made: list[QueryLogWriter] = []

    def make(path: Path, **kwargs: object) -> QueryLogWriter:
        writer = QueryLogWriter(path, **kwargs)  # type: ignore[arg-type]
        made.append(writer)
        return writer

    yield make
    for writer in made:
        writer.stop(timeout=1.0)


def test_log_entry_has_the_table_columns_in_order() -> None:
    columns = [c.name for c in QueryLogRow.__table__.columns]
    assert columns == ["id", *LogEntry._fields]


def test_what_insights_and_the_export_read_is_the_one_row_type() -> None:
    """The insights job's row and the export's columns are the log entry's, in its order."""
    table = ["id", *LogEntry._fields]
    read = list(LoggedRow._fields)
    assert read == [c for c in table if c in read]
    exported = list(EXPORT_COLUMNS)
    assert exported == [c for c in LogEntry._fields if c in exported]
    assert {"ts", "name", "action", "rule", "reason"} <= set(exported)


def test_rows_appear_after_flush_with_every_field_intact(db_path: Path, writers: Writers) -> None:
    rows = [
        entry(0),
        LogEntry(
            ts=1_700_000_123.456789,
            client="fd00::17",
            device=None,
            child=None,
            name="xn--bcher-kva.example",
            qtype="AAAA",
            action="block",
            rule="list:bypass",
            reason="Blocked: this app hides what Sam does online (“VPN”).",
            category="bypass",
            app="NordVPN",
            upstream="9.9.9.9:53",
            latency_ms=12.625,
            cached=True,
        ),
        entry(
            2,
            action="rewrite",
            rule="safesearch:google",
            reason="Safe search is on.",
            upstream="[2620:fe::fe]:53",
            latency_ms=0.0,
            cached=False,
        ),
    ]
    writer = writers(db_path)
    writer.start()
    assert all(writer.submit(row) for row in rows)
    assert writer.flush(timeout=5)
    assert recent(db_path, 10) == list(reversed(rows))
    assert (writer.submitted, writer.written, writer.dropped) == (3, 3, 0)


def test_writer_creates_folder_table_and_wal_on_a_fresh_path(
    tmp_path: Path, writers: Writers
) -> None:
    path = tmp_path / "new" / "houserules.db"
    writer = writers(path)
    writer.start()
    writer.submit(entry(1))
    assert writer.flush(timeout=5)
    assert count_rows(path) == 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_full_queue_drops_the_newest_and_counts_exactly(db_path: Path, writers: Writers) -> None:
    writer = writers(db_path, queue_size=10)
    accepted = [writer.submit(entry(i)) for i in range(25)]  # not started: nothing drains
    assert accepted == [True] * 10 + [False] * 15
    assert (writer.submitted, writer.dropped, writer.queued) == (25, 15, 10)
    assert writer.stop(timeout=5)
    assert [r.ts for r in recent(db_path, 100)] == [entry(i).ts for i in reversed(range(10))]
    assert writer.written == 10


def test_stop_writes_the_remainder(db_path: Path, writers: Writers) -> None:
    writer = writers(db_path, flush_interval=3600)  # would not write on its own for an hour
    writer.start()
    for i in range(1234):
        writer.submit(entry(i))
    assert writer.stop(timeout=5)
    assert count_rows(db_path) == 1234
    assert not writer.submit(entry(9999)), "a stopped writer refuses rows"
    assert writer.dropped == 1


def test_rows_are_written_in_batches_of_at_most_batch_size(db_path: Path, writers: Writers) -> None:
    writer = writers(db_path, batch_size=100)
    for i in range(1050):
        writer.submit(entry(i))
    writer.start()
    assert writer.flush(timeout=5)
    assert count_rows(db_path) == 1050
    assert writer.largest_batch == 100
    assert writer.batches == 11


def test_malformed_rows_are_rejected_and_the_rest_written(db_path: Path, writers: Writers) -> None:
    writer = writers(db_path)
    writer.start()
    writer.submit(entry(1))
    writer.submit(entry(2, name=None))  # NOT NULL column
    writer.submit(entry(3, client=object()))  # a type SQLite cannot store
    writer.submit(entry(4))
    assert writer.flush(timeout=5)
    assert (writer.written, writer.rejected, writer.failed_batches) == (2, 2, 0)
    assert [r.ts for r in recent(db_path)] == [entry(4).ts, entry(1).ts]


def test_a_locked_database_does_not_stop_submit_and_rows_follow_the_unlock(
    db_path: Path, writers: Writers, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.store.querylog")
    holder = connect(db_path)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    writer = writers(db_path, busy_timeout=0.05, retry_max=0.1)
    writer.start()
    writer.submit(entry(0))
    wait_until(lambda: writer.failed_batches >= 2)

    # This very thread holds the lock, so a submit that waited for it would never return.
    assert all(writer.submit(entry(i)) for i in range(1, 1001))
    assert not writer.flush(timeout=0.05)
    assert count_rows(db_path) == 0
    assert str(db_path) in writer.last_error and "locked" in writer.last_error

    holder.execute("ROLLBACK")
    holder.close()
    assert writer.flush(timeout=5)
    assert count_rows(db_path) == 1001
    assert (writer.written, writer.dropped) == (1001, 0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "one warning per outage, not one per retry"
    assert str(db_path) in warnings[0].getMessage()
    assert any("again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_memory_stays_bounded_while_the_database_is_locked(db_path: Path, writers: Writers) -> None:
    holder = connect(db_path)
    holder.execute("BEGIN IMMEDIATE")
    writer = writers(db_path, queue_size=100, batch_size=10, busy_timeout=0.05, retry_max=0.1)
    writer.start()
    for i in range(5):
        writer.submit(entry(i))
    wait_until(lambda: writer.failed_batches >= 1)  # the writer now holds those 5 rows

    accepted = sum(writer.submit(entry(i)) for i in range(5, 205))
    assert (accepted, writer.dropped, writer.queued) == (95, 105, 100)

    holder.execute("ROLLBACK")
    holder.close()
    assert writer.flush(timeout=5)
    assert count_rows(db_path) == 100
    assert [r.ts for r in recent(db_path, 1)] == [entry(99).ts]  # the newest were dropped


def _read_only_connection(path: Path, busy_timeout: float) -> sqlite3.Connection:
    # Tests often run as root, for whom chmod does not stop writes; SQLite's read-only open
    # gives the same error a read-only mount or file does.
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


def test_a_read_only_database_is_a_counted_error_not_an_exception(
    db_path: Path, writers: Writers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(querylog, "_open_writer_connection", _read_only_connection)
    writer = writers(db_path, retry_max=0.1)
    writer.start()
    assert all(writer.submit(entry(i)) for i in range(10))
    wait_until(lambda: writer.failed_batches >= 1)
    assert writer.written == 0
    assert writer.last_error == f"{db_path}: the file or its folder is read-only"

    monkeypatch.undo()  # the card is writable again: the kept rows are written
    assert writer.flush(timeout=5)
    assert count_rows(db_path) == 10


@pytest.mark.skipif(ignores_permissions, reason="this user can write read-only files")
def test_a_read_only_file_is_a_counted_error(db_path: Path, writers: Writers) -> None:
    db_path.chmod(0o444)
    try:
        writer = writers(db_path, retry_max=0.1)
        writer.start()
        assert writer.submit(entry(1))
        wait_until(lambda: writer.failed_batches >= 1)
        assert "read-only" in writer.last_error
    finally:
        # SQLite gives the -wal and -shm files it creates the database file's mode.
        for path in db_path.parent.glob(f"{db_path.name}*"):
            path.chmod(0o644)
    assert writer.flush(timeout=5)
    assert count_rows(db_path) == 1


def test_a_full_disk_keeps_the_rows_until_there_is_room(
    db_path: Path, writers: Writers, monkeypatch: pytest.MonkeyPatch
) -> None:

    open_normally = querylog._open_writer_connection

    def full_disk(path: Path, busy_timeout: float) -> sqlite3.Connection:
        conn = open_normally(path, busy_timeout)
        # No page may be added: SQLite reports exactly what a full card reports.
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        return conn

    monkeypatch.setattr(querylog, "_open_writer_connection", full_disk)
    writer = writers(db_path, retry_max=0.1)
    writer.start()
    rows = [entry(i, reason="x" * 500) for i in range(200)]
    assert all(writer.submit(row) for row in rows)
    wait_until(lambda: writer.failed_batches >= 1)
    assert writer.last_error == f"{db_path}: the disk is full"

    monkeypatch.undo()
    assert writer.flush(timeout=5)
    assert count_rows(db_path) == 200


@pytest.mark.parametrize("by", ["engine", "path"])
def test_prune_removes_only_older_rows_in_chunks(db_path: Path, writers: Writers, by: str) -> None:
    writer = writers(db_path)
    for i in range(100):
        writer.submit(entry(i))
    assert writer.stop(timeout=5)
    cutoff = entry(50).ts

    engine = make_engine(f"sqlite:///{db_path}")
    target = engine if by == "engine" else db_path
    try:
        assert prune_query_log(target, before_ts=cutoff, chunk=7, pause=0) == 50
        assert prune_query_log(target, before_ts=cutoff, chunk=7, pause=0) == 0
    finally:
        engine.dispose()
    kept = recent(db_path, 1000)
    assert len(kept) == 50
    assert min(r.ts for r in kept) == cutoff
