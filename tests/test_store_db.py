"""Opening the database: folder creation, SQLite settings, table creation, plain-word errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import inspect

from agent.store import StoreError, init_db, make_engine, sqlite_file
from agent.store import db as store_db
from agent.store.sqlite import PAGE_CACHE_KB

from hosttools import ignores_permissions


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////var/lib/houserules/houserules.db", Path("/var/lib/houserules/houserules.db")),
        ("sqlite:///data/houserules.db", Path("data/houserules.db")),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("postgresql://user@localhost/houserules", None),
    ],
)
def test_sqlite_file(url: str, expected: Path | None) -> None:
    assert sqlite_file(url) == expected


def test_make_engine_creates_the_folder_and_sets_pragmas_on_every_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "not" / "yet" / "houserules.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        assert path.parent.is_dir()
        # Two connections at once: the pool must open a second one, which needs the same setup.
        with engine.connect() as one, engine.connect() as two:
            for conn in (one, two):
                pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731, B023
                assert pragma("journal_mode") == "wal"
                assert pragma("synchronous") == 1  # NORMAL
                assert pragma("foreign_keys") == 1
                assert pragma("busy_timeout") == store_db.BUSY_TIMEOUT_MS
                assert pragma("wal_autocheckpoint") == store_db.WAL_AUTOCHECKPOINT_PAGES
                assert pragma("journal_size_limit") == store_db.JOURNAL_SIZE_LIMIT_BYTES
                assert pragma("cache_size") == -PAGE_CACHE_KB  # KiB, not SQLite's 2,000
    finally:
        engine.dispose()


def test_threads_busy_at_once_each_get_a_connection_and_only_two_stay_open(
    tmp_path: Path,
) -> None:
    """Six jobs or pages using the database at the same moment all get a connection (none
    waits for another's); afterwards only two stay open, each with its page cache, where
    SQLAlchemy's default pool kept five."""
    engine = make_engine(f"sqlite:///{tmp_path / 'houserules.db'}")
    together = threading.Barrier(6, timeout=30)
    failures: list[BaseException] = []

    def use() -> None:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
                together.wait()  # all six hold a connection at this moment
        except BaseException as exc:  # noqa: BLE001  (reported below)
            failures.append(exc)

    try:
        threads = [threading.Thread(target=use) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not failures
        assert engine.pool.checkedin() == store_db.IDLE_CONNECTIONS == 2
    finally:
        engine.dispose()


def test_wal_mode_is_stored_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "houserules.db"
    make_engine(f"sqlite:///{path}").dispose()
    # A connection that sets nothing itself still finds the file in WAL mode.
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_init_db_creates_the_query_log_and_is_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'houserules.db'}")
    try:
        init_db(engine)
        init_db(engine)
        inspector = inspect(engine)
        assert "query_log" in inspector.get_table_names()
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("query_log")}
        assert indexes["ix_query_log_ts"] == ["ts"]
        assert indexes["ix_query_log_child_ts"] == ["child", "ts"]
    finally:
        engine.dispose()


def test_init_db_skips_table_modules_not_written_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    monkeypatch.setattr(
        store_db, "TABLE_MODULES", ("agent.store.querylog", "agent.store.not_written_yet")
    )
    engine = make_engine(f"sqlite:///{tmp_path / 'houserules.db'}")
    try:
        init_db(engine)
        assert "query_log" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_a_file_that_is_not_a_database_is_named_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "houserules.db"
    path.write_bytes(b"these are my holiday notes, not a database\n" * 100)
    with pytest.raises(StoreError) as err:
        make_engine(f"sqlite:///{path}")
    assert str(path) in str(err.value)
    assert "not a SQLite database" in str(err.value)


def test_a_folder_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    path = blocker / "houserules.db"
    with pytest.raises(StoreError) as err:
        make_engine(f"sqlite:///{path}")
    assert str(path) in str(err.value)
    assert "folder cannot be created: a file is in the way" in str(err.value)


@pytest.mark.skipif(ignores_permissions, reason="this user can write read-only folders")
def test_a_read_only_folder_is_named_in_plain_words(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o555)
    path = folder / "houserules.db"
    try:
        with pytest.raises(StoreError) as err:
            make_engine(f"sqlite:///{path}")
    finally:
        folder.chmod(0o755)
    assert str(path) in str(err.value)
    assert "cannot be opened or created" in str(err.value)


def test_explain_looks_through_extended_codes(tmp_path: Path) -> None:
    path = tmp_path / "houserules.db"
    make_engine(f"sqlite:///{path}").dispose()
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.Error) as err:
            conn.execute("CREATE TABLE t (x)")
    finally:
        conn.close()
    assert store_db.explain(err.value) == "the file or its folder is read-only"
