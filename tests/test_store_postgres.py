"""PostgreSQL as the household's shared store, outside the DNS process: the migrations, the jobs
process, a parent's dashboard journey, check-config and backup, each on a real PostgreSQL
(tests/pgtools.py; one server for the session, a database of its own for each test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from agent import cli
from agent import config as config_mod
from agent.config import ConfigError
from agent.store import household as store
from agent.store import migrate as mig
from agent.store.db import init_db, make_engine
from agent.store.migrate import MigrationError, migrate
from agent.store.querylog import LogEntry, count_rows
from tests.storetools import write_log

HEAD = mig.head_revision()
ALL = tuple(s.revision for s in mig.scripts().walk_revisions())[::-1]
HOUSERULES = str(Path(sys.executable).with_name("houserules"))
TZ = ZoneInfo("Europe/London")


# -- migrations ------------------------------------------------------------------------------


def test_migrations_bring_an_empty_database_to_the_head_as_the_models_say(pg_url: str) -> None:
    started = clock.monotonic()
    result = migrate(pg_url)  # postgresql://: psycopg 3 is chosen in one place (db.py)
    took = clock.monotonic() - started
    assert (result.before, result.after, result.applied, result.backup) == (None, HEAD, ALL, None)
    assert took < 30, took
    engine = make_engine(pg_url)
    try:
        assert mig.schema_differences(engine) == []  # types too: times with their zone
        assert migrate(engine).applied == ()
    finally:
        engine.dispose()


def test_a_database_made_by_create_all_is_recognised_not_rebuilt(pg_url: str) -> None:
    engine = make_engine(pg_url)
    try:
        init_db(engine)
        sam = store.add_child(engine, "Sam", date(2014, 5, 1))
        result = migrate(engine)
        assert (result.stamped, result.applied) == (HEAD, ())
        assert store.list_children(engine) == (sam,)
    finally:
        engine.dispose()


def test_a_revision_that_fails_is_undone_and_named(pg_url: str, tmp_path: Path) -> None:
    from test_migrate import ADD_TABLE, BROKEN, scripts_with

    migrate(pg_url)
    engine = make_engine(pg_url)
    try:
        store.add_child(engine, "Sam", date(2014, 5, 1))
        location = scripts_with(tmp_path, {"0900_notes.py": ADD_TABLE, "0901_bad.py": BROKEN})
        with pytest.raises(MigrationError) as caught:
            migrate(pg_url, location=location)
        message = str(caught.value)
        assert "revision 0901 (copy rules into notes) failed" in message
        assert "that one was undone" in message and "(revision 0900)" in message
        assert mig.current_revision(engine) == "0900"
        assert [c.name for c in store.list_children(engine)] == ["Sam"]  # nothing lost
    finally:
        engine.dispose()


def test_0005h_puts_lifted_schedules_back_with_their_times_in_utc(pg_url: str) -> None:
    """The data step of 0005h on PostgreSQL: booleans, the reserved word "end", and an
    overlay's end kept as a time with its zone, so it reads back as the same instant."""
    from test_migrate import upgrade_to

    from agent.store import overlays

    upgrade_to(pg_url, "0004")
    engine = make_engine(pg_url)
    try:
        alex = store.add_child(engine, "Alex", date(2017, 9, 12))
        saved = {"name": "Bedtime", "days": [0, 1, 2, 3, 4, 5, 6], "start": "20:30:00"}
        saved |= {"end": "07:00:00", "block_all": True, "block": [], "allow": ["homework.example"]}
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO child_requests (time, child_id, child, kind, message, status, "
                    "outcome, lifted, lift_until, restored) VALUES (1.0, :c, 'Alex', "
                    "'more_time', '', 'approved', '', :l, 4102444800.0, FALSE)"
                ),
                {"c": alex.id, "l": json.dumps([saved])},
            )
        migrate(engine)
        (back,) = store.load_household(engine).schedules
        assert (back.name, back.start, back.end, back.allow) == (
            "Bedtime", time(20, 30), time(7), ("homework.example",),
        )  # fmt: skip
        (running,) = overlays.list_overlays(engine)
        assert running.schedule_id == back.id and running.until == datetime(2100, 1, 1, tzinfo=UTC)
    finally:
        engine.dispose()


def test_times_keep_their_instant_whatever_the_servers_zone(pg_url: str) -> None:
    """A PostgreSQL set to another zone (a Pi in Sydney) must not move an overlay's end."""
    from agent.store import overlays

    migrate(pg_url)
    name = pg_url.rsplit("/", 1)[1]
    engine = make_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET timezone TO 'Australia/Sydney'")
        engine.dispose()  # new connections take the zone
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW timezone").scalar() == "Australia/Sydney"
        sam = store.add_child(engine, "Sam", date(2014, 5, 1))
        until = datetime(2026, 12, 2, 19, 30, tzinfo=TZ)
        made_at = until - timedelta(hours=1)
        overlays.add_overlay(
            engine, sam.id, "unblock", until, made_at, target_kind="app", target="roblox"
        )
        (made,) = overlays.list_overlays(engine)
        assert made.until == until
    finally:
        engine.dispose()


# -- the jobs process --------------------------------------------------------------------------


def entry(ts: float, client: str, mac: str | None = None) -> LogEntry:
    return LogEntry(ts, client, mac, None, "example.com", "A", "allow", "", "")


def test_the_jobs_process_migrates_records_devices_and_prunes(pg_url: str, tmp_path: Path) -> None:
    from agent.ops.jobs import Jobs
    from agent.store.household_devices import list_devices

    cfg = config_mod.parse({"store": {"url": pg_url}}, "test.toml", tmp_path)
    now = datetime(2026, 12, 1, 20, 0, tzinfo=TZ)
    jobs = Jobs(cfg, now=lambda: now)  # migrates the empty database first
    try:
        assert mig.current_revision(jobs.engine) == HEAD
        t = now.timestamp()
        old = t - 40 * 86_400
        write_log(pg_url, [entry(old, "192.168.1.9"), entry(t - 60, "192.168.1.20", "aa:bb")])
        write_log(pg_url, [entry(t - 30, "192.168.1.21")])
        assert jobs.record_seen_devices() == 3
        assert jobs.record_seen_devices() == 0  # read on from where it was
        assert {d.ip for d in list_devices(jobs.engine)} == {
            "192.168.1.9", "192.168.1.20", "192.168.1.21",
        }  # fmt: skip
        assert jobs.prune() == 1
        assert count_rows(jobs.engine) == 2
        jobs.run_insights()  # reads the log through psycopg; the cursor moves past both rows
        from agent.store.insight_state import peek_cursor

        cursor = peek_cursor(jobs.engine)
        assert cursor is not None and cursor.last_ts == t - 30
    finally:
        jobs.engine.dispose()


# -- a parent's dashboard ------------------------------------------------------------------------


@pytest.fixture
def engine(pg_url: str) -> Iterator[Any]:
    """The dashboard fixtures (tests/conftest.py) on PostgreSQL, migrated as the jobs do."""
    eng = make_engine(pg_url)
    migrate(eng)
    yield eng
    eng.dispose()


def test_a_parent_sets_up_the_household_in_the_dashboard(auth: Any, engine: Any, verdict) -> None:
    from agent.rules.decision import RuleKind, RuleRef

    tablet = "192.168.1.20"
    assert auth.login().status_code == 302
    made = auth.post("/children/new", {"name": "Sam", "born": "2015-03-01"})
    (sam,) = store.list_children(engine)
    assert made.location == f"/child/{sam.id}"
    store.add_device(engine, ip=tablet, name="Sam's tablet", owner="child", child_id=sam.id)
    auth.post(f"/child/{sam.id}/domains", {"domain": "Example.com", "verb": "block"})
    bedtime = {"name": "Bedtime", "days": [str(d) for d in range(7)], "start": "20:00"}
    assert auth.post(f"/child/{sam.id}/schedules", bedtime | {"end": "07:00", "scope": "all"})
    page = f"/child/{sam.id}"
    reward = {"what": "app:youtube", "until": "19:00"}
    assert auth.post(f"/children/{sam.id}/reward", reward, page=page).status_code == 302
    shown = auth.client.get(page).get_data(as_text=True)
    assert "example.com" in shown and "Bedtime" in shown
    at_six = auth.clock()
    assert verdict(tablet, "www.example.com", at_six).rule == RuleRef(
        RuleKind.BLOCK_DOMAIN, "example.com"
    )
    late = at_six.replace(hour=21)
    assert verdict(tablet, "wikipedia.org", late).rule == RuleRef(RuleKind.SCHEDULE, "Bedtime")
    assert "Sam" in auth.client.get("/").get_data(as_text=True)
    assert auth.logout().status_code == 302


# -- check-config, run and backup -------------------------------------------------------------


def write_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[store]\nurl = "{url}"\n')
    return path


@pytest.mark.parametrize("spelling", ["postgresql://", "postgresql+psycopg://"])
def test_check_config_accepts_a_postgresql_database_that_answers(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], spelling: str
) -> None:
    path = write_config(tmp_path, pg_url.replace("postgresql://", spelling))
    assert cli.main(["--config", str(path), "check-config"]) == 0
    out, err = capsys.readouterr()
    assert "OK" in out and "warning" not in err


def test_check_config_refuses_a_database_the_server_refuses(
    pg_server: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, pg_server.url("no_such_household"))
    assert cli.main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "store.url" in err
    assert 'database "no_such_household" does not exist' in err


def test_check_config_warns_when_the_server_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.pgtools import free_port

    path = write_config(tmp_path, f"postgresql://hr:s3cret@127.0.0.1:{free_port()}/house")
    assert cli.main(["--config", str(path), "check-config"]) == 0  # the DNS still runs
    out, err = capsys.readouterr()
    assert "[store.url] PostgreSQL does not answer now" in err and "OK" in out
    assert "s3cret" not in out + err


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("mysql://hr@db.lan/house", "sqlite:///... or postgresql://..."),
        ("postgresql+psycopg2://hr:s3cret@db.lan/house", "through psycopg 3"),
        ("postgresql://hr:s3cret@db.lan:99999/house", "port must be a number"),
        ("postgresql://hr:s3cret@db.lan:5432/", "must name the database"),
    ],
)
def test_a_store_url_run_could_not_use_is_refused_without_its_password(
    tmp_path: Path, url: str, words: str
) -> None:
    path = write_config(tmp_path, url)
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path)
    message = str(caught.value)
    assert caught.value.key == "store.url" and words in message and "s3cret" not in message


def test_without_psycopg_check_config_and_run_both_name_the_extra(
    pg_url: str, tmp_path: Path
) -> None:
    """A box installed without the postgres extra: one line, the same from both commands."""
    stub = tmp_path / "nopsycopg" / "psycopg"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError(\"No module named 'psycopg'\")\n")
    env = os.environ | {"PYTHONPATH": str(stub.parent)}
    path = write_config(tmp_path, pg_url)
    for command in ("check-config", "run"):
        done = subprocess.run(
            [HOUSERULES, "--config", str(path), command],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        said = [line for line in done.stderr.splitlines() if not line.startswith("HouseRules ")]
        assert done.returncode == 2, done.stderr
        assert len(said) == 1 and "pip install 'houserules[postgres]'" in said[0], said


def test_backup_on_postgresql_names_pg_dump_and_touches_nothing(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = pg_url.replace("houserules@", "houserules:s3cret@")
    path = write_config(tmp_path, secret)
    for args in (["backup", str(tmp_path / "b.jsonl")], ["restore", str(tmp_path / "b.jsonl")]):
        assert cli.main(["--config", str(path), *args]) == 1
        err = capsys.readouterr().err
        assert "pg_dump -Fc" in err and "pg_restore" in err and "s3cret" not in err
    assert not (tmp_path / "b.jsonl").exists()


def test_the_cli_changes_the_household_on_postgresql(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, pg_url)
    assert cli.main(["--config", str(path), "migrate"]) == 0
    assert "upgraded" in capsys.readouterr().out
    assert cli.main(["--config", str(path), "child", "add", "Sam", "--born", "2014-06-15"]) == 0
    assert cli.main(["--config", str(path), "rule", "block", "sam", "--app", "roblox"]) == 0
    engine = make_engine(pg_url)
    try:
        (sam,) = store.list_children(engine)
        assert [(r.verb, r.value) for r in store.list_rules(engine, sam.id)] == [
            ("block", "roblox")
        ]
    finally:
        engine.dispose()


def test_a_week_of_history_is_pruned_in_chunks(pg_url: str) -> None:
    """Retention deletes in chunks, each its own transaction, as on SQLite."""
    from agent.store.querylog import prune_query_log

    migrate(pg_url)
    base = datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    write_log(pg_url, [entry(base + i * 60, "192.168.1.20") for i in range(250)])
    engine = make_engine(pg_url)
    try:
        cutoff = base + timedelta(minutes=200).total_seconds()
        assert prune_query_log(engine, cutoff, chunk=60, pause=0) == 200
        assert count_rows(engine) == 50
    finally:
        engine.dispose()


def test_a_digest_claimed_by_many_at_once_is_claimed_once(pg_url: str) -> None:
    """Two boxes' jobs (here eight threads, each its own connection) reaching for the same
    weekly digest at the same moment: the database lets exactly one have it."""
    import threading

    from agent.store.carers import add_carer
    from agent.store.digest import claim_digest

    migrate(pg_url)
    engine = make_engine(pg_url)
    try:
        now = datetime(2026, 11, 22, 18, 0, tzinfo=TZ)
        store.add_child(engine, "Sam", date(2014, 5, 1))
        nana = add_carer(engine, "Nana", "nana@example.org", ["Sam"], now=now)
        start = threading.Barrier(8)
        claims: list[object] = []

        def claim() -> None:
            start.wait(timeout=30)
            claims.append(claim_digest(engine, nana.id, "2026-W47", now, now))

        threads = [threading.Thread(target=claim) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert len(claims) == 8 and sum(c is not None for c in claims) == 1
    finally:
        engine.dispose()


def test_doctor_finds_the_postgresql_database_at_its_revision_without_its_password(
    pg_url: str, tmp_path: Path
) -> None:
    from agent.ops.doctor import check_database

    migrate(pg_url)
    secret = pg_url.replace("houserules@", "houserules:s3cret@")  # trust: a password unused
    cfg = config_mod.parse({"store": {"url": secret}}, "test.toml", tmp_path)
    finding = check_database(cfg)
    assert finding.ok is True and f"at revision {HEAD}" in finding.detail
    assert "s3cret" not in finding.detail


def test_two_boxes_migrating_at_once_take_turns(pg_url: str) -> None:
    """Two boxes start together after an upgrade: both reach the head, neither fails."""
    import threading

    results: list[object] = []

    def box() -> None:
        try:
            results.append(migrate(pg_url))
        except Exception as exc:  # noqa: BLE001  (the assertion says which)
            results.append(exc)

    threads = [threading.Thread(target=box) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(results) == 3 and not [r for r in results if isinstance(r, Exception)], results
    assert sum(1 for r in results if r.applied) == 1  # one box upgraded; the others found it done


def test_write_transactions_of_two_processes_take_turns(pg_url: str) -> None:
    """Two jobs processes overlapping in a handover each read a cursor and move it: on
    PostgreSQL (read committed) both would read the same value; taking turns as SQLite's one
    writer does, no move is lost."""
    import threading

    from agent.store.dialect import write_transaction

    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE turn_test (id INTEGER PRIMARY KEY, n INTEGER)")
        conn.exec_driver_sql("INSERT INTO turn_test VALUES (1, 0)")

    def box() -> None:
        for _ in range(40):
            with write_transaction(engine) as conn:
                n = conn.exec_driver_sql("SELECT n FROM turn_test WHERE id = 1").scalar_one()
                conn.exec_driver_sql(f"UPDATE turn_test SET n = {n + 1} WHERE id = 1")

    threads = [threading.Thread(target=box) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT n FROM turn_test").scalar_one() == 120
    engine.dispose()
