"""Weekly digests end to end: a real SQLite file and a real PostgreSQL, a real SMTP server on
loopback, a clock the test moves. Once per carer per week, across restarts; caught up after
downtime; retried after a 4xx; a refused address holds up no one else."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from agent import config as config_mod
from agent.config import Config
from agent.digest.jobs import ALERTS_EVERY, DIGEST_EVERY, EmailJobs, register_jobs
from agent.digest.mailer import Mailer
from agent.events import Event, EventKind, Severity
from agent.store import insight_state, rollup_writes
from agent.store.carers import add_carer, get_carer_by_name, update_carer
from agent.store.db import init_db, make_engine
from agent.store.digest import claim_digest, delivery_problems, digest_send
from agent.store.events import record_events
from agent.store.household import add_child

from prompttools import cites_a_letter
from smtpserver import SmtpServer, client_context, self_signed_cert

TZ = ZoneInfo("Europe/London")
DUE = datetime(2026, 11, 22, 18, 0, tzinfo=TZ)  # Sunday of ISO week 2026-W47
JOINED = datetime(2026, 11, 20, 12, 0, tzinfo=TZ)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


def activity(engine: Engine, child: str, day: date, app: str, minutes: int) -> None:
    with insight_state.immediate(engine) as conn:
        key = day.isoformat()
        rollup_writes.add_usage(conn, {(child, key, 16, "app", app): [minutes, minutes * 4, 0]})
        rollup_writes.add_child_totals(conn, {(child, key, 16): [minutes, minutes * 4, 0]}, {})


def seed(engine: Engine) -> None:
    add_child(engine, "Sam", date(2014, 3, 1))
    add_child(engine, "Alex", date(2016, 6, 1))
    add_carer(engine, "Nana", "nana@example.org", ["Sam", "Alex"], alerts=True, now=JOINED)
    add_carer(engine, "Dad", "dad@example.org", ["Sam"], digest_day=0,
              digest_time=datetime(1, 1, 1, 8).time(), now=JOINED)  # fmt: skip
    add_carer(engine, "Gran", "gran@example.org", ["Alex"], now=JOINED)
    for i, minutes in enumerate([60, 90, 30, 0, 120, 200, 45]):
        activity(engine, "Sam", date(2026, 11, 16) + timedelta(days=i), "roblox", minutes)
    activity(engine, "Sam", date(2026, 11, 10), "roblox", 300)  # the week before
    record_events(
        engine,
        [
            Event(local(17, 16, 5), EventKind.FIRST_APP, Severity.NOTICE, "Sam", "tab", "discord",
                  {"app_name": "Discord", "flags": ["chat_with_strangers", "video_chat"]}),
            Event(local(18, 23, 10), EventKind.LATE_NIGHT, Severity.NOTICE, "Sam", "tab",
                  "youtube", {"schedule": "Bedtime", "window": "21:00-07:00"}),
            Event(local(19, 19, 2), EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT, "Sam", "tab",
                  "ometv", {"blocked": True, "app_name": "OmeTV"}),
            Event(local(20, 16), EventKind.AGE_BLOCKED, Severity.NOTICE, "Sam", "tab", "tiktok",
                  {"minimum_age": 13, "app_name": "TikTok"}),
        ],
    )  # fmt: skip


@pytest.fixture
def db_url(store_url: str) -> str:
    """The family's database: a SQLite file, and a database on PostgreSQL."""
    url = store_url
    engine = make_engine(url)
    init_db(engine)
    seed(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Engine:
    return make_engine(db_url)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def make_cfg(tmp_path: Path, port: int, security: str = "none") -> Config:
    email = {"host": "127.0.0.1", "port": port, "security": security, "timeout": 5}
    email |= {"sender": "HouseRules <box@example.org>", "dashboard_url": "http://hr.local/"}
    return config_mod.parse({"email": email}, "test.toml", tmp_path)


def make_jobs(tmp_path: Path, smtp: SmtpServer, engine: Engine, clock: Clock) -> EmailJobs:
    return EmailJobs(make_cfg(tmp_path, smtp.port), engine, clock=clock)


def sent(outcomes: list) -> list[tuple[str, str, str]]:
    return sorted((o.carer, o.what, o.status) for o in outcomes)


def test_the_weekly_digest_arrives_over_starttls(tmp_path: Path, engine: Engine) -> None:
    cert = self_signed_cert(tmp_path)
    with SmtpServer(tls=cert) as smtp:
        cfg = make_cfg(tmp_path, smtp.port, security="starttls")
        mailer = Mailer(cfg.email, ssl_context=client_context(cert[0]))
        jobs = EmailJobs(cfg, engine, clock=Clock(DUE + timedelta(seconds=20)), mailer=mailer)
        outcomes = jobs.send_due_digests()
        smtp.wait_for(2)
    assert sent(outcomes) == [
        ("Gran", "weekly digest 2026-W47", "sent"),
        ("Nana", "weekly digest 2026-W47", "sent"),
    ]  # Dad's Monday 08:00 digest comes tomorrow: his first due time since he joined
    (nana,) = smtp.to("nana@example.org")
    msg = nana.message
    assert msg["To"] == "Nana <nana@example.org>"
    assert msg["Subject"] == "HouseRules weekly: Sam and Alex, 16–22 Nov (1 alert)"
    assert msg["Message-ID"] == "<houserules.digest.2026-W47.carer-1@example.org>"
    text, html = nana.part("plain"), nana.part("html")
    sam, alex = text.split("SAM (12)\n")[1].split("ALEX (10)\n")
    assert "About 9 h 05 min online this week, 4 h 05 min more than the week before" in (
        " ".join(sam.split())
    )
    for words in ("Discord (app), first used Tue", "OmeTV", "during Bedtime", "TikTok (for 13+)"):
        assert words in " ".join(sam.split()), words
    assert "Things to talk about:" in sam and sam.count("Source: ") >= 2
    assert ".txt" not in sam and sam.count("Source: ") >= 1
    assert all(cites_a_letter(part) for part in sam.split("Source: ")[1:])
    assert "A quiet week: HouseRules saw no activity from Alex's devices." in alex
    assert "Sam <span" in html and "Alex <span" in html and 'href="http://hr.local/"' in html
    assert html.count("Source: ") == text.count("Source: ")
    (gran,) = smtp.to("gran@example.org")
    assert gran.message["Subject"] == "HouseRules weekly: a quiet week for Alex, 16–22 Nov"
    assert "SAM" not in gran.part("plain")  # Gran hears about Alex only


def test_each_week_is_sent_once_across_a_restart(
    tmp_path: Path, db_url: str, smtp: SmtpServer
) -> None:
    first = make_engine(db_url)
    assert len(make_jobs(tmp_path, smtp, first, Clock(DUE)).send_due_digests()) == 2
    first.dispose()  # the box restarts: a new process, a new engine, the same database
    again = make_engine(db_url)
    for later in (timedelta(minutes=1), timedelta(hours=3), timedelta(hours=13)):
        assert make_jobs(tmp_path, smtp, again, Clock(DUE + later)).send_due_digests() == []
    assert len(smtp.wait_for(2)) == 2
    nana = get_carer_by_name(again, "Nana")
    assert nana is not None
    record = digest_send(again, nana.id, "2026-W47")
    assert record is not None and record.status == "sent" and record.attempts == 1


def test_a_box_that_was_off_catches_up_when_it_comes_back(
    tmp_path: Path, engine: Engine, smtp: SmtpServer
) -> None:
    clock = Clock(local(24, 9, 0))  # off from Sunday afternoon to Tuesday morning
    jobs = make_jobs(tmp_path, smtp, engine, clock)
    assert sent(jobs.send_due_digests()) == [
        ("Dad", "weekly digest 2026-W48", "sent"),  # due Monday 08:00
        ("Gran", "weekly digest 2026-W47", "sent"),  # due Sunday 18:00
        ("Nana", "weekly digest 2026-W47", "sent"),
    ]
    subjects = {m.rcpt_tos[0]: m.message["Subject"] for m in smtp.wait_for(3)}
    assert subjects["nana@example.org"].endswith("16–22 Nov (1 alert)")
    assert subjects["dad@example.org"] == "HouseRules weekly: Sam, 16–22 Nov (1 alert)"
    assert jobs.send_due_digests() == []


def test_after_weeks_off_only_the_latest_week_is_sent(
    tmp_path: Path, engine: Engine, smtp: SmtpServer
) -> None:
    jobs = make_jobs(tmp_path, smtp, engine, Clock(local(22, 18, 0) + timedelta(weeks=3)))
    assert sent(jobs.send_due_digests()) == [
        ("Dad", "weekly digest 2026-W50", "sent"),
        ("Gran", "weekly digest 2026-W50", "sent"),
        ("Nana", "weekly digest 2026-W50", "sent"),
    ]


def test_a_4xx_is_retried_with_back_off(tmp_path: Path, engine: Engine, smtp: SmtpServer) -> None:
    smtp.data_replies.append("451 4.7.1 Greylisted, come back later")
    clock = Clock(DUE)
    jobs = make_jobs(tmp_path, smtp, engine, clock)
    outcomes = jobs.send_due_digests()
    assert sent(outcomes) == [
        ("Gran", "weekly digest 2026-W47", "sent"),
        ("Nana", "weekly digest 2026-W47", "failed"),
    ]
    failed = next(o for o in outcomes if o.status == "failed")
    assert "451 4.7.1 Greylisted" in failed.detail and "tried again later" in failed.detail
    (problem,) = delivery_problems(engine, clock())
    assert (problem.carer, problem.what) == ("Nana", "weekly digest 2026-W47")
    assert problem.next_try == DUE + timedelta(minutes=1)
    clock.now = DUE + timedelta(seconds=59)
    assert jobs.send_due_digests() == []
    clock.now = DUE + timedelta(minutes=1)
    assert sent(jobs.send_due_digests()) == [("Nana", "weekly digest 2026-W47", "sent")]
    assert len(smtp.to("nana@example.org")) == 1 and delivery_problems(engine, clock()) == []


def test_a_refused_address_holds_up_no_one_else(
    tmp_path: Path, engine: Engine, smtp: SmtpServer
) -> None:
    smtp.refuse("gran@example.org", "550 5.1.1 <gran@example.org>: Recipient address rejected")
    clock = Clock(DUE)
    jobs = make_jobs(tmp_path, smtp, engine, clock)
    assert sent(jobs.send_due_digests()) == [
        ("Gran", "weekly digest 2026-W47", "refused"),
        ("Nana", "weekly digest 2026-W47", "sent"),
    ]
    problems = {(p.carer, p.what): p for p in delivery_problems(engine, clock())}
    assert "Recipient address rejected" in problems[("Gran", "address")].problem
    assert problems[("Gran", "weekly digest 2026-W47")].next_try is None  # waits for a new one
    clock.now = DUE + timedelta(hours=5)
    assert jobs.send_due_digests() == []
    gran = get_carer_by_name(engine, "Gran")
    assert gran is not None
    update_carer(engine, gran.id, email="gran@example.net")
    assert sent(jobs.send_due_digests()) == [("Gran", "weekly digest 2026-W47", "sent")]
    assert smtp.to("gran@example.net") and delivery_problems(engine, clock()) == []


def test_a_send_cut_short_by_a_crash_is_resent_after_an_hour(
    tmp_path: Path, engine: Engine, smtp: SmtpServer
) -> None:
    nana = get_carer_by_name(engine, "Nana")
    assert nana is not None
    assert claim_digest(engine, nana.id, "2026-W47", DUE, DUE)  # claimed, then the power went
    clock = Clock(DUE + timedelta(minutes=5))
    jobs = make_jobs(tmp_path, smtp, engine, clock)
    assert sent(jobs.send_due_digests()) == [("Gran", "weekly digest 2026-W47", "sent")]
    clock.now = DUE + timedelta(minutes=59)
    assert jobs.send_due_digests() == []
    clock.now = DUE + timedelta(minutes=61)
    assert sent(jobs.send_due_digests()) == [("Nana", "weekly digest 2026-W47", "sent")]
    (msg,) = smtp.to("nana@example.org")
    assert msg.message["Message-ID"] == "<houserules.digest.2026-W47.carer-1@example.org>"


def test_register_jobs_adds_the_two_sweeps(
    tmp_path: Path, engine: Engine, smtp: SmtpServer
) -> None:
    agent = SimpleNamespace(cfg=make_cfg(tmp_path, smtp.port), engine=None)
    scheduler = BackgroundScheduler(timezone=TZ)
    clock = Clock(DUE)
    register_jobs(scheduler, agent, clock=clock)
    jobs = {j.id: j for j in scheduler.get_jobs()}
    assert set(jobs) == {"weekly digests", "alert emails"}
    for job, seconds in (
        (jobs["weekly digests"], DIGEST_EVERY),
        (jobs["alert emails"], ALERTS_EVERY),
    ):  # noqa: E501
        assert job.trigger.interval == timedelta(seconds=seconds)
        assert job.coalesce and job.max_instances == 1 and job.misfire_grace_time is None
    jobs["weekly digests"].func()  # the database is not open yet: nothing happens
    agent.engine = engine  # ...and now it is
    jobs["weekly digests"].func()
    assert len(smtp.wait_for(2)) == 2
    details = {"signal": "vpn-proxy", "name": "vpn.example"}
    bypass = Event(DUE, EventKind.BYPASS_SUSPECTED, Severity.ALERT, "Sam", "tab", details=details)
    record_events(engine, [bypass])
    jobs["alert emails"].func()
    clock.now = DUE + timedelta(seconds=30)
    jobs["alert emails"].func()
    assert smtp.wait_for(3)[-1].message["Subject"] == (
        "HouseRules alert: possible way round the filter (Sam)"
    )
