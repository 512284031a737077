"""Alert emails through a real SMTP server: to the right carers, grouped, rate-limited, retried.

The clock is a variable: each sweep is called at the moment the test names; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from agent import config as config_mod
from agent.config import Config
from agent.digest.alerts import alert_content, ready
from agent.digest.jobs import EmailJobs
from agent.events import Event, EventKind, Severity
from agent.store.carers import add_carer, get_carer_by_name, update_carer
from agent.store.db import init_db, make_engine
from agent.store.digest import AlertState, delivery_problems
from agent.store.events import acknowledge, record_events
from agent.store.household import add_child

from smtpserver import SmtpServer

TZ = ZoneInfo("Europe/London")
T0 = datetime(2026, 11, 18, 19, 0, tzinfo=TZ)


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> Clock:
        self.now = T0 + timedelta(seconds=seconds)
        return self


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    eng = make_engine(f"sqlite:///{tmp_path / 'alerts.db'}")
    init_db(eng)
    add_child(eng, "Sam", date(2014, 3, 1))
    add_child(eng, "Alex", date(2016, 6, 1))
    before = T0 - timedelta(days=1)
    add_carer(eng, "Nana", "nana@example.org", ["Sam"], alerts=True, now=before)
    add_carer(eng, "Dad", "dad@example.org", ["Alex"], alerts=True, now=before)
    add_carer(eng, "Mum", "mum@example.org", ["Sam", "Alex"], alerts=False, now=before)
    return eng


def make_cfg(tmp_path: Path, port: int) -> Config:
    email = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5}
    email |= {"sender": "HouseRules <box@example.org>", "dashboard_url": "http://hr.local/"}
    return config_mod.parse({"email": email}, "test.toml", tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def jobs(tmp_path: Path, smtp: SmtpServer, engine: Engine, clock: Clock) -> EmailJobs:
    return EmailJobs(make_cfg(tmp_path, smtp.port), engine, clock=clock)


def alert(engine: Engine, seconds: float, child: str = "Sam", app: str = "ometv") -> None:
    when = T0 + timedelta(seconds=seconds)
    details = {"blocked": True, "app_name": {"ometv": "OmeTV"}.get(app, app)}
    record_events(
        engine,
        [Event(when, EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT, child, "tab", app, details)],  # noqa: E501
    )


@pytest.mark.parametrize(
    ("pending", "last", "now", "expected"),
    [
        (None, None, 0, False),  # first sighting: note it, wait for the rest of the burst
        (0, None, 29, False),
        (0, None, 30, True),
        (0, 0, 300, False),  # rate-limited: one email in ten minutes
        (0, 0, 600, True),
    ],
)
def test_ready(pending: float | None, last: float | None, now: float, expected: bool) -> None:
    def t(s: float | None) -> datetime | None:
        return None if s is None else T0 + timedelta(seconds=s)

    state = AlertState(0, t(pending), t(last))
    assert ready(state, T0 + timedelta(seconds=now), 30, 10) is expected


def test_a_burst_becomes_one_email_to_the_carers_who_asked(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    alert(engine, -20)
    alert(engine, -10, app="chatroulette")
    assert jobs.sweep_alerts() == []  # noted; waits for the rest of the burst
    alert(engine, 10, app="monkey")  # arrives with the next insights run
    assert clock.at(15) and jobs.sweep_alerts() == []
    (outcome,) = clock.at(30) and jobs.sweep_alerts()
    assert outcome.status == "sent" and outcome.what == "alert email (3 alerts)"
    (mail,) = smtp.wait_for(1)
    assert mail.rcpt_tos == ["nana@example.org"]  # not Dad (Alex), not Mum (no alerts)
    assert mail.message["Subject"] == "HouseRules: 3 alerts about Sam"
    text = mail.part("plain")
    assert text.count("\n- ") == 3 and "Wed 18 Nov 18:59: tab looked up OmeTV" in text
    assert "http://hr.local/" in text and "999" in text
    html = mail.part("html")
    assert html.count("<li") == 3 and 'href="http://hr.local/"' in html
    assert clock.at(45) and jobs.sweep_alerts() == []  # nothing new: nothing sent


def test_alerts_within_the_gap_wait_and_go_together(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    alert(engine, 0)
    jobs.sweep_alerts()
    assert clock.at(30) and len(jobs.sweep_alerts()) == 1
    alert(engine, 60)
    alert(engine, 300, app="chatroulette")
    for seconds in (60, 120, 400, 629):
        assert clock.at(seconds) and jobs.sweep_alerts() == [], seconds
    (outcome,) = clock.at(630) and jobs.sweep_alerts()
    assert outcome.what == "alert email (2 alerts)"
    assert [m.message["Subject"] for m in smtp.wait_for(2)] == [
        "HouseRules alert: random video chat (Sam)",
        "HouseRules: 2 alerts about Sam",
    ]


def test_an_alert_a_parent_already_saw_is_not_emailed(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    alert(engine, 0)
    jobs.sweep_alerts()
    acknowledge(engine, 1, T0)
    assert clock.at(60) and jobs.sweep_alerts() == [] and smtp.messages == []


def test_alerts_from_before_a_carer_joined_are_not_emailed(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    alert(engine, 0, child="Alex")
    add_carer(engine, "Gran", "gran@example.org", ["Alex"], alerts=True, now=T0 + timedelta(1))
    jobs.sweep_alerts()
    clock.at(30)
    jobs.sweep_alerts()
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["dad@example.org"]]


def test_a_4xx_is_tried_again_after_a_minute(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    smtp.data_replies.append("451 4.3.0 Try again later")
    alert(engine, 0)
    jobs.sweep_alerts()
    (failed,) = clock.at(30) and jobs.sweep_alerts()
    assert failed.status == "failed" and "451 4.3.0 Try again later" in failed.detail
    (problem,) = delivery_problems(engine, clock())
    assert problem.what == "alert email" and problem.next_try == T0 + timedelta(seconds=90)
    assert clock.at(89) and jobs.sweep_alerts() == []
    (sent,) = clock.at(90) and jobs.sweep_alerts()
    assert sent.status == "sent" and len(smtp.wait_for(1)) == 1
    assert delivery_problems(engine, clock()) == []


def test_a_refused_address_does_not_hold_up_the_others(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    smtp.refuse("nana@example.org")
    alert(engine, 0, child="Sam")
    alert(engine, 0, child="Alex")
    jobs.sweep_alerts()
    outcomes = clock.at(30) and jobs.sweep_alerts()
    assert sorted((o.carer, o.status) for o in outcomes) == [("Dad", "sent"), ("Nana", "refused")]
    nana = get_carer_by_name(engine, "Nana")
    assert nana is not None and "refused the address nana@example.org" in str(nana.address_problem)
    alert(engine, 700, child="Sam")
    assert clock.at(700) and jobs.sweep_alerts() == []  # waits for a new address
    update_carer(engine, nana.id, email="nana@example.com")
    (resent,) = clock.at(730) and jobs.sweep_alerts()  # the refused email, straight away
    (new,) = clock.at(760) and jobs.sweep_alerts()  # the one that waited, once grouped
    assert (resent.status, new.status) == ("sent", "sent")
    assert len(smtp.to("nana@example.com")) == 2


def test_a_childs_request_reads_as_a_request() -> None:
    asked = Event(
        T0, EventKind.CHILD_REQUEST, Severity.ALERT, "Sam", app="minecraft",
        details={"request": "more_time", "minutes": 30},
    )  # fmt: skip
    subject, text, html = alert_content("Nana", [asked], TZ, "http://hr.local/", 10)
    assert subject == "HouseRules: Sam asked for something"
    assert "Sam asked for more time (30 min)." in text
    assert "You can answer on the dashboard. http://hr.local/" in text
    assert "999" not in text and "999" not in html


def urgent(engine: Engine, seconds: float, child: str = "Sam") -> None:
    """A worrying search about self-harm, as the proxy records it (urgent, with its helplines)."""
    from agent.events.searches import Search
    from agent.proxy.concerns import load_concerns

    concerns = load_concerns()
    search = Search("google", "Google", "how to hide self harm")
    when = T0 + timedelta(seconds=seconds)
    item = concerns.event(concerns.match(search.terms), search, child, "tab", when)
    assert item.event.severity is Severity.URGENT
    record_events(engine, [item])


def test_an_urgent_alert_goes_at_once_even_right_after_another_email(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    alert(engine, 0)
    jobs.sweep_alerts()
    assert clock.at(30) and len(jobs.sweep_alerts()) == 1  # an ordinary alert email goes
    alert(engine, 40, app="chatroulette")  # an ordinary one waits for the ten-minute gap...
    assert clock.at(45) and jobs.sweep_alerts() == []
    assert clock.at(75) and jobs.sweep_alerts() == []
    urgent(engine, 80)  # ...an urgent one does not: first sweep that sees it, no grouping
    (outcome,) = clock.at(90) and jobs.sweep_alerts()
    assert outcome.status == "sent" and outcome.what == "alert email (2 alerts)"
    first, second = smtp.wait_for(2)
    assert second.rcpt_tos == ["nana@example.org"]  # Sam's carer who asked; not Mum
    assert second.message["Subject"] == "HouseRules: please check in with Sam today"
    text = second.part("plain")
    assert text.index("touched on self-harm") < text.index("chatroulette")  # the urgent first
    assert "Please make time today to check in with Sam, calmly and without blame" in text
    assert "No need to act in a hurry" not in text
    assert "Samaritans: 116 123" in text and "Childline: 0800 1111" in text and "85258" in text
    assert "If a life is at risk right now, call 999." in text
    assert "houserules " not in text.lower()  # no commands for a carer to type
    html = second.part("html")
    assert "Samaritans: 116 123" in html and "check in with Sam, calmly" in html
    assert "No need to act in a hurry" not in html
    assert clock.at(120) and jobs.sweep_alerts() == []  # nothing new: nothing more sent


def test_an_ordinary_alert_still_waits_for_the_gap_after_an_urgent_one(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    urgent(engine, 0)
    (sent,) = jobs.sweep_alerts()  # at once: not even the 30 s grouping
    assert sent.status == "sent" and len(smtp.wait_for(1)) == 1
    alert(engine, 60)
    for seconds in (60, 90, 599):
        assert clock.at(seconds) and jobs.sweep_alerts() == [], seconds
    (later,) = clock.at(600) and jobs.sweep_alerts()
    assert later.what == "alert email (1 alert)"
    mail = smtp.wait_for(2)[1]
    assert mail.message["Subject"] == "HouseRules alert: random video chat (Sam)"
    assert "Samaritans" not in mail.part("plain")  # the helplines go with urgent alerts only


def test_an_urgent_alert_does_not_wait_behind_a_failed_emails_back_off(
    engine: Engine, jobs: EmailJobs, clock: Clock, smtp: SmtpServer
) -> None:
    smtp.data_replies.append("451 4.3.0 Try again later")
    alert(engine, 0)
    jobs.sweep_alerts()
    (failed,) = clock.at(30) and jobs.sweep_alerts()
    assert failed.status == "failed"  # would be tried again at 90 s
    urgent(engine, 40)
    (sent,) = clock.at(45) and jobs.sweep_alerts()  # the server is back: both go now
    assert sent.status == "sent" and sent.what == "alert email (2 alerts)"
    (mail,) = smtp.wait_for(1)
    assert mail.message["Subject"] == "HouseRules: please check in with Sam today"
