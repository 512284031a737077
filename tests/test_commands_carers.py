"""`houserules carer|digest|email` through the real command line, a SQLite file and a real SMTP
server on loopback; the clock is the module's `now` hook."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent import cli
from agent.commands import carers as cmd
from agent.events import Event, EventKind, Severity
from agent.store.db import make_engine
from agent.store.events import record_events

from smtpserver import SmtpServer, free_port

TZ = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 22, 18, 0, 30, tzinfo=TZ)
Run = Callable[..., tuple[int, str, str]]
CLOCK = {"now": NOW - timedelta(days=2)}  # carers join on Friday; the tests send on Sunday


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def config(tmp_path: Path, port: int | None) -> Path:
    text = f'[store]\nurl = "sqlite:///{tmp_path / "hr.db"}"\n'
    if port is not None:
        text += (
            f'[email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
            'sender = "HouseRules <box@example.org>"\ndashboard_url = "http://hr.local/"\n'
        )
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture
def run(tmp_path: Path, smtp: SmtpServer, capsys, monkeypatch) -> Run:
    monkeypatch.setitem(CLOCK, "now", NOW - timedelta(days=2))
    monkeypatch.setattr(cmd, "now", lambda cfg: CLOCK["now"])
    path = config(tmp_path, smtp.port)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(path), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    monkeypatch.chdir(tmp_path)
    assert _run("child", "add", "Sam", "--born", "2014-03-01")[0] == 0
    assert _run("child", "add", "Alex", "--born", "2016-06-01")[0] == 0
    return _run


def test_add_list_update_remove(run: Run) -> None:
    code, out, _ = run("carer", "add", "Nana", "--email", "nana@example.org",
                       "--children", "Sam,alex", "--alerts")  # fmt: skip
    assert code == 0
    assert out == (
        "Added Nana <nana@example.org>: hears about Sam, Alex; digest and alerts, "
        "Sundays at 18:00.\n"
    )
    run("carer", "add", "Dad", "--email", "dad@example.org", "--children", "Sam",
        "--day", "mon", "--time", "08:00")  # fmt: skip
    code, out, _ = run("carer", "list")
    assert out.splitlines() == [
        "Nana <nana@example.org>: hears about Sam, Alex; digest and alerts, Sundays at 18:00",
        "Dad <dad@example.org>: hears about Sam; digest only, Mondays at 08:00",
    ]
    code, out, _ = run("carer", "update", "dad", "--alerts", "--children", "Alex")
    assert (
        out
        == "Updated Dad <dad@example.org>: hears about Alex; digest and alerts, Mondays at 08:00.\n"
    )  # noqa: E501
    code, out, _ = run("carer", "list", "--json")
    assert json.loads(out)[1] == {
        "name": "Dad",
        "email": "dad@example.org",
        "children": ["Alex"],
        "alerts": True,
        "digest_day": "monday",
        "digest_time": "08:00",
        "address_problem": None,
    }
    assert run("carer", "remove", "Dad")[1] == "Removed Dad; they will get no more emails.\n"
    assert [c["name"] for c in json.loads(run("carer", "list", "--json")[1])] == ["Nana"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("carer", "add", "X", "--email", "x", "--children", "Sam"), "does not look like an email"),
        (("carer", "add", "X", "--email", "x@y.org", "--children", "Bob"), "no child called 'Bob'"),
        (("carer", "add", "X", "--email", "x@y.org", "--children", "Sam", "--day", "someday"),
         "not a day of the week"),
        (("carer", "remove", "Nobody"), "no carer called 'Nobody'"),
        (("carer", "update", "Nobody", "--alerts"), "no carer called 'Nobody'"),
        (("digest", "preview", "--week", "2026-47"), "--week must look like 2026-W47"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line(run: Run, argv: tuple[str, ...], words: str) -> None:
    code, out, err = run(*argv)
    assert code == 1 and words in err and err.count("\n") == 1


def test_preview_prints_the_text_and_writes_the_html(run: Run, tmp_path: Path) -> None:
    run("carer", "add", "Nana", "--email", "nana@example.org", "--children", "Sam,Alex")
    engine = make_engine(f"sqlite:///{tmp_path / 'hr.db'}")
    record_events(engine, [Event(datetime(2026, 11, 18, 23, 10, tzinfo=TZ),
                                 EventKind.LATE_NIGHT, Severity.NOTICE, "Sam", "tab", "youtube",
                                 {"schedule": "Bedtime", "window": "21:00-07:00"})])  # fmt: skip
    CLOCK["now"] = NOW
    code, out, _ = run("digest", "preview", "--carer", "nana", "--week", "2026-W47",
                       "--html", "nana.html")  # fmt: skip
    assert code == 0
    assert out.startswith("Subject: HouseRules weekly: Sam and Alex, 16–22 Nov\n\nHello Nana.")
    assert "Late at night:" in out and "SAM (12)" in out and "ALEX (10)" in out
    assert "The HTML part is in nana.html" in out
    html = (tmp_path / "nana.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "during Bedtime" in html
    code, out, _ = run("digest", "preview")  # no carer: about every child, as of now
    assert code == 0 and "Hello there." in out and (tmp_path / "digest-preview.html").exists()


def test_send_sends_what_is_due_once(run: Run, smtp: SmtpServer) -> None:
    run("carer", "add", "Nana", "--email", "nana@example.org", "--children", "Sam")
    CLOCK["now"] = NOW
    code, out, _ = run("digest", "send")
    assert code == 0 and out.startswith("weekly digest 2026-W47 for Nana: sent. 250 ")
    code, out, _ = run("digest", "send")
    assert code == 0 and out.startswith("Nothing to send")
    assert "houserules digest send --now" in out
    code, out, _ = run("digest", "status")
    assert out.startswith("2026-W47  Nana             sent Sun 22 Nov 18:00")
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["nana@example.org"]]


def test_send_now_is_extra_and_shows_in_the_status(run: Run, smtp: SmtpServer) -> None:
    run("carer", "add", "Nana", "--email", "nana@example.org", "--children", "Sam")
    run("carer", "add", "Dad", "--email", "dad@example.org", "--children", "Sam")
    CLOCK["now"] = NOW
    code, out, _ = run("digest", "send", "--now", "--carer", "Nana")
    assert code == 0 and out.startswith("Sent to Nana <nana@example.org>. The server said: 250")
    code, out, _ = run("digest", "status")  # right after a send, the status says so
    assert "No digests sent yet" not in out
    assert out.startswith("2026-W47, on request 22 Nov 18:00:30  Nana             sent Sun 22 Nov")
    code, out, _ = run("digest", "send")  # the weekly ones still go
    assert code == 0 and out.count(": sent.") == 2
    assert len(smtp.wait_for(3)) == 3


def test_a_digest_sent_seconds_after_activity_includes_it(
    run: Run, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The jobs process brings insights up to date every 30 s; `digest send --now` and
    `digest preview` do it first, so a digest never calls a busy week quiet."""
    from agent.store.logwriter import LogEntry, QueryLogWriter

    run("carer", "add", "Nana", "--email", "nana@example.org", "--children", "Sam")
    run("device", "add", "--ip", "192.168.1.20", "--name", "Sam's tablet", "--child", "Sam")
    CLOCK["now"] = NOW
    writer = QueryLogWriter(tmp_path / "hr.db")
    start = NOW.timestamp() - 600
    for i in range(20):  # ten minutes on a random video-chat site, a query every 30 s
        writer.submit(
            LogEntry(start + 30 * i, "192.168.1.20", None, "Sam", "www.omegle.com", "A",
                     "allow", "", "", "random-video-chat", "omegle")
        )  # fmt: skip
    writer.stop()
    code, out, _ = run("digest", "preview", "--carer", "Nana", "--html", str(tmp_path / "p.html"))
    assert code == 0 and "Omegle" in out and "quiet week" not in out.lower()
    code, _, _ = run("digest", "send", "--now", "--carer", "Nana")
    assert code == 0
    (message,) = smtp.wait_for(1)
    assert "Omegle" in message.part("plain")


def test_a_refused_address_shows_in_list_and_status(run: Run, smtp: SmtpServer) -> None:
    smtp.refuse("nana@example.org")
    run("carer", "add", "Nana", "--email", "nana@example.org", "--children", "Sam")
    CLOCK["now"] = NOW
    code, out, _ = run("digest", "send")
    assert code == 1 and "for Nana: refused. the mail server refused the address" in out
    out = run("carer", "list")[1]
    assert "! not emailing this address: the mail server refused the address" in out
    out = run("digest", "status")[1]
    assert "Not delivered:" in out and "Nana <nana@example.org>, address:" in out


def test_email_test_reports_the_servers_answer(run: Run, smtp: SmtpServer) -> None:
    code, out, _ = run("email", "test", "nana@example.org")
    assert code == 0
    assert out.splitlines()[:2] == [
        f"The mail server 127.0.0.1:{smtp.port} accepted the test email for nana@example.org.",
        "It said: 250 2.0.0 Message accepted for delivery",
    ]
    (got,) = smtp.wait_for(1)
    assert got.message["Subject"] == "HouseRules test email"
    smtp.refuse("gone@example.org", "550 5.1.1 No such user")
    code, _, err = run("email", "test", "gone@example.org")
    assert code == 1 and err == (
        "houserules: the test email was not sent: the mail server refused the address "
        "gone@example.org: it said 550 5.1.1 No such user\n"
    )


def test_email_test_without_a_server(tmp_path: Path, capsys) -> None:
    path = config(tmp_path, None)
    assert cli.main(["--config", str(path), "email", "test", "a@b.org"]) == 1
    assert "email is not set up: add [email] host and sender" in capsys.readouterr().err
    path = config(tmp_path, free_port())
    assert cli.main(["--config", str(path), "email", "test", "a@b.org"]) == 1
    assert "refused the connection; check email.host and email.port" in capsys.readouterr().err
