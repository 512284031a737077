"""The mailer against a real SMTP server on loopback: plain, STARTTLS with a self-signed
certificate, logins, and every failure in plain words with the right retry advice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.config import EmailConfig
from agent.digest.mailer import Mailer, MailError
from agent.digest.messages import email_test_message, message

from smtpserver import SmtpServer, client_context, free_port, self_signed_cert

# Logins without TLS are what a relay on the home network does; aiosmtpd warns about them.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

NOW = datetime(2026, 11, 22, 18, 0, tzinfo=UTC)
SENDER = "HouseRules <box@example.org>"


def cfg(port: int, **kw: object) -> EmailConfig:
    values: dict[str, object] = dict(
        host="127.0.0.1", port=port, security="none", sender=SENDER, timeout=5.0
    )
    return EmailConfig(**(values | kw))  # type: ignore[arg-type]


def note(to: str = "nana@example.org") -> object:
    return message(
        SENDER, ("Nana", to), "Hello", "Plain words.\n", "<p>Plain words.</p>", NOW, "t.1"
    )


def test_a_message_arrives_with_both_parts_and_fixed_headers() -> None:
    with SmtpServer() as smtp:
        answer = Mailer(cfg(smtp.port)).send(note())
        got = smtp.wait_for(1)[0]
    assert answer.code == 250 and "accepted" in str(answer)
    assert got.mail_from == "box@example.org" and got.rcpt_tos == ["nana@example.org"]
    msg = got.message
    assert msg["Subject"] == "Hello" and msg["To"] == "Nana <nana@example.org>"
    assert msg["Message-ID"] == "<houserules.t.1@example.org>"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert got.part("plain").strip() == "Plain words."
    assert got.part("html").strip() == "<p>Plain words.</p>"


def test_a_long_message_keeps_its_lines_short() -> None:
    html = "<p>" + "Ein Satz mit Umlauten: äöü. " * 2000 + "</p>"
    text = "\n".join(f"Line {i}: naïve café" for i in range(2000))
    with SmtpServer() as smtp:
        msg = message(SENDER, ("Nana", "nana@example.org"), "Lang", text, html, NOW, "t.2")
        Mailer(cfg(smtp.port)).send(msg)
        got = smtp.wait_for(1)[0]
    assert max(len(line) for line in got.data.split(b"\r\n")) <= 998
    assert got.part("html") == html + "\n" and got.part("plain") == text + "\n"


def test_starttls_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert = self_signed_cert(tmp_path)
    with SmtpServer(tls=cert, logins={"box": "s3cret pass"}) as smtp:
        (tmp_path / "pw").write_text("s3cret pass\n")
        mailer = Mailer(
            cfg(smtp.port, security="starttls", username="box"),
            password_file=tmp_path / "pw",
            ssl_context=client_context(cert[0]),
        )
        mailer.send(note())
        got = smtp.wait_for(1)[0]
    assert got.login == "box"


def test_an_untrusted_certificate_is_explained(tmp_path: Path) -> None:
    cert = self_signed_cert(tmp_path)
    with SmtpServer(tls=cert) as smtp, pytest.raises(MailError) as err:
        Mailer(cfg(smtp.port, security="starttls")).send(note())
    assert "certificate" in str(err.value) and not err.value.temporary


def test_no_starttls_offered_is_explained() -> None:
    with SmtpServer() as smtp, pytest.raises(MailError) as err:
        Mailer(cfg(smtp.port, security="starttls")).send(note())
    assert "does not offer STARTTLS" in str(err.value)


def test_a_wrong_password_is_explained(tmp_path: Path) -> None:
    with SmtpServer(logins={"box": "right"}) as smtp, pytest.raises(MailError) as err:
        Mailer(cfg(smtp.port, username="box", password="wrong")).send(note())
    assert "did not accept the username and password for box" in str(err.value)
    assert "right" not in str(err.value) and "wrong" not in str(err.value)


def test_a_missing_login_is_a_server_answer() -> None:
    with SmtpServer(logins={"box": "right"}) as smtp, pytest.raises(MailError) as err:
        Mailer(cfg(smtp.port)).send(note())
    assert "530" in str(err.value) and not err.value.refused


def test_a_4xx_answer_is_temporary() -> None:
    with SmtpServer() as smtp:
        smtp.data_replies.append("451 4.3.0 Mailbox busy, try later")
        with pytest.raises(MailError) as err:
            Mailer(cfg(smtp.port)).send(note())
        assert err.value.temporary and not err.value.refused and err.value.code == 451
        assert "451 4.3.0 Mailbox busy" in str(err.value) and "tried again later" in str(err.value)
        Mailer(cfg(smtp.port)).send(note())  # the next try goes through
        smtp.wait_for(1)


def test_a_5xx_for_the_address_means_the_address_is_refused() -> None:
    with SmtpServer() as smtp:
        smtp.refuse("gone@example.org")
        with pytest.raises(MailError) as err:
            Mailer(cfg(smtp.port)).send(note("gone@example.org"))
    assert err.value.refused and not err.value.temporary
    assert "refused the address gone@example.org" in str(err.value) and "550" in str(err.value)


def test_a_closed_port_and_an_unknown_host_are_explained() -> None:
    with pytest.raises(MailError) as err:
        Mailer(cfg(free_port())).send(note())
    assert "refused the connection" in str(err.value) and err.value.temporary
    with pytest.raises(MailError) as err:
        Mailer(cfg(25, host="no-such-host.invalid")).send(note())
    assert "cannot find the mail server" in str(err.value) and err.value.temporary


def test_a_missing_password_file_is_explained(tmp_path: Path) -> None:
    with SmtpServer(logins={"box": "x"}) as smtp, pytest.raises(MailError) as err:
        Mailer(cfg(smtp.port, username="box"), password_file=tmp_path / "nope").send(note())
    assert "cannot read email.password_file" in str(err.value)


def test_no_email_set_up() -> None:
    with pytest.raises(MailError, match="email is not set up"):
        Mailer(EmailConfig()).send(note())


def test_the_test_email_reads_on_its_own() -> None:
    msg = email_test_message(SENDER, "nana@example.org", NOW)
    assert msg["Subject"] == "HouseRules test email"
    assert (
        "weekly digests and alert emails will reach this address"
        in msg.get_body(("plain",)).get_content()
    )
