"""Two boxes, one household: two real jobs processes (`python -m houserules.jobs`) on one database
(a shared SQLite file, and a real PostgreSQL) and one real SMTP server. One of them does the
household's jobs: each weekly digest reaches each carer once. Killed (SIGKILL), the other takes
over within the lease time and carries on; stopped cleanly, it hands the lease back at once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from agent.store import lease
from agent.store.carers import add_carer
from agent.store.db import make_engine
from agent.store.digest import list_digest_sends
from agent.store.household import add_child
from agent.store.migrate import migrate
from tests.pgtools import free_port, pg_server, pg_url  # noqa: F401

from smtpserver import Handler, SmtpServer
from waiting import START_SECONDS, tail, wait_for

LEASE, RENEW = 6.0, 1.0  # short, so the test is quick; the defaults are pinned in test_leader
SLACK = 3.0  # a niced jobs process on a busy 2-core machine may renew late


class JobsProcess:
    """One box's jobs process, its config in its own folder, its log in a file."""

    def __init__(self, folder: Path, name: str, url: str, smtp_port: int) -> None:
        folder.mkdir()
        self.name, self.log = name, folder / "jobs.log"
        self.config = folder / "config.toml"
        # The mail timeout outlasts a box stopped in the middle of a send (SIGSTOP): a socket's
        # timeout counts the time it was stopped, and the send should carry on when it resumes.
        self.config.write_text(
            f'[store]\nurl = "{url}"\n'
            f'[dashboard]\nlisten = "127.0.0.1:{free_port()}"\n'
            f'[email]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\ntimeout = 60\n'
            'sender = "HouseRules <box@example.org>"\ndashboard_url = "http://hr.local/"\n'
            f'[jobs]\nbox_name = "{name}"\nlease_seconds = {LEASE}\n'
            f"lease_renew_seconds = {RENEW}\n"
        )
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "houserules.jobs", "--config", str(self.config)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.output = tail(self.log)

    def said(self, words: str) -> bool:
        return words in self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a test that failed while it was stopped
            self.proc.kill()
        self.proc.wait(30)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'household.db'}"
    return request.getfixturevalue("pg_url")  # postgresql://, as a parent writes it


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    migrate(engine)  # as `houserules migrate` before the two boxes start
    now = datetime.now(UTC)
    add_child(engine, "Sam", date(2014, 3, 1))
    for carer in ("Nana", "Gran"):  # joined over a week ago: this week's digest is due
        add_carer(engine, carer, f"{carer.lower()}@example.org", ["Sam"], now=now - timedelta(8))
    try:
        yield engine
    finally:
        engine.dispose()


def sent(engine: Engine) -> int:
    return sum(s.status == "sent" for s in list_digest_sends(engine))


def holder_box(engine: Engine) -> str | None:
    held = lease.current(engine)
    return held.box if held is not None and held.live else None


@contextlib.contextmanager
def two_boxes(
    tmp_path: Path, url: str, smtp: SmtpServer, engine: Engine
) -> Iterator[tuple[JobsProcess, JobsProcess]]:
    """Both boxes' jobs processes, up: (the one doing the household's jobs, the other)."""
    boxes = {
        name: JobsProcess(tmp_path / name, name, url, smtp.port) for name in ("kitchen", "hall")
    }
    try:
        for box in boxes.values():
            wait_for(
                lambda b=box: b.said("does the household's jobs now") or b.said("stands by"),
                f"the {box.name} box's jobs process",
                proc=box.proc,
                output=box.output,
            )
        first = boxes[holder_box(engine) or ""]
        other = next(b for b in boxes.values() if b is not first)
        assert first.said("does the household's jobs now")
        assert other.said("stands by") and not other.said("does the household's jobs now")
        yield first, other
    finally:
        for box in boxes.values():
            box.stop()


def test_each_digest_once_and_a_killed_box_is_taken_over_within_the_lease(
    tmp_path: Path, url: str, engine: Engine
) -> None:
    with SmtpServer() as smtp, two_boxes(tmp_path, url, smtp, engine) as (first, other):
        smtp.wait_for(2)
        wait_for(lambda: sent(engine) == 2, "both digests recorded as sent", proc=first.proc)
        for carer in ("nana", "gran"):
            assert len(smtp.to(f"{carer}@example.org")) == 1

        first.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.proc.wait(30)
        last = lease.current(engine)  # the dead box's last renewal
        assert last is not None and last.box == first.name
        # a carer added while no box does the household's jobs hears at the takeover
        add_carer(engine, "Dad", "dad@example.org", ["Sam"], now=datetime.now(UTC) - timedelta(8))
        wait_for(
            lambda: holder_box(engine) == other.name,
            "the other box to take over",
            seconds=START_SECONDS,
            proc=other.proc,
            output=other.output,
        )
        seen_after = time.monotonic() - killed_at
        took = lease.current(engine)
        assert took is not None and took.holder != last.holder
        assert took.taken_at >= last.expires_at  # never while the dead box's lease ran
        gap = (took.taken_at - last.renewed_at).total_seconds()
        assert gap <= LEASE + RENEW + SLACK, f"taken over {gap:.1f}s after the last renewal"
        assert seen_after <= LEASE + RENEW + 5 * SLACK  # wall clock, polled from here
        assert other.said("does the household's jobs now")

        smtp.wait_for(3)
        wait_for(lambda: sent(engine) == 3, "Dad's digest recorded as sent", proc=other.proc)
        assert [len(smtp.to(f"{c}@example.org")) for c in ("nana", "gran", "dad")] == [1, 1, 1]
        sends = list_digest_sends(engine)
        assert sorted((s.status, s.attempts) for s in sends) == [("sent", 1)] * 3

        other.proc.send_signal(signal.SIGTERM)  # a clean stop hands the lease back
        assert other.proc.wait(60) == 0, other.output()
        assert holder_box(engine) is None
        assert len(smtp.messages) == 3
    print(f"taken over {gap:.2f}s after the last renewal, seen {seen_after:.2f}s after the kill")


class HeldData(Handler):
    """An SMTP server's handler that keeps the first email's DATA unanswered until released:
    the box sending it is caught in the middle of a send."""

    def __init__(self) -> None:
        super().__init__()
        self.caught, self.release = threading.Event(), threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.caught.is_set():
            self.caught.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        return await super().handle_DATA(server, session, envelope)


def test_a_handover_in_the_middle_of_a_send_sends_nothing_twice(
    tmp_path: Path, url: str, engine: Engine
) -> None:
    """The box doing the household's jobs stops (SIGSTOP) while the mail server has its first
    digest; the other takes over and sends the rest; the first comes back and finishes its
    send. Each carer has one digest."""
    smtp = SmtpServer()
    held = HeldData()
    smtp.handler = smtp.controller.handler = held
    with smtp, two_boxes(tmp_path, url, smtp, engine) as (first, other):
        wait_for(held.caught.is_set, "a digest at the mail server", proc=first.proc)
        first.proc.send_signal(signal.SIGSTOP)
        wait_for(
            lambda: holder_box(engine) == other.name,
            "the other box to take over",
            proc=other.proc,
            output=other.output,
        )
        smtp.wait_for(1)  # the other box sent the digest nobody had claimed
        wait_for(lambda: sent(engine) == 1, "the other box's send recorded", proc=other.proc)
        (claimed,) = [s for s in list_digest_sends(engine) if s.status == "sending"]
        held.release.set()
        first.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: sent(engine) == 2, "both digests recorded as sent", proc=first.proc)
        wait_for(lambda: first.said("this one stands by"), "the first box to stand by")
        assert [len(smtp.to(f"{c}@example.org")) for c in ("nana", "gran")] == [1, 1]
        sends = list_digest_sends(engine)
        assert sorted((s.status, s.attempts) for s in sends) == [("sent", 1)] * 2
        assert claimed.id in {s.id for s in sends}
        assert holder_box(engine) == other.name
