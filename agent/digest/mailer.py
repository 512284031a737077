"""Sending email over SMTP (smtplib), with every failure explained in plain words.

`Mailer.send` talks to the server one step at a time (connect, TLS, login, sender, recipient,
message) so a failure says which step went wrong and what the server answered. A `MailError`
says whether to try again later (`temporary`: no connection, a timeout, a 4xx answer) and
whether the server refused the recipient's address for good (`refused`: a 5xx answer to that
address), which is the carer's problem, not everyone's.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from agent.config import Config, EmailConfig


class MailError(Exception):
    """Sending failed. `temporary`: worth trying again; `refused`: the address is bad."""

    def __init__(self, message: str, *, temporary: bool, refused: bool = False, code: int = 0):
        super().__init__(message)
        self.temporary, self.refused, self.code = temporary, refused, code


@dataclass(frozen=True)
class Accepted:
    """The server took the message: its answer, for `houserules email test`."""

    code: int
    answer: str

    def __str__(self) -> str:
        return f"{self.code} {self.answer}".strip()


class Mailer:
    """Sends through the `[email]` server. `ssl_context` is for tests and private CAs."""

    def __init__(
        self,
        cfg: EmailConfig,
        *,
        password_file: Path | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.cfg = cfg
        self.password_file = password_file or cfg.password_file
        self.ssl_context = ssl_context

    @classmethod
    def from_config(cls, cfg: Config, **kwargs: object) -> Mailer:
        """The password file resolved against the config file's folder."""
        pw = cfg.resolve(cfg.email.password_file) if cfg.email.password_file else None
        return cls(cfg.email, password_file=pw, **kwargs)  # type: ignore[arg-type]

    @property
    def where(self) -> str:
        return f"{self.cfg.host}:{self.cfg.port}"

    def send(self, msg: EmailMessage) -> Accepted:
        """Send one message to its To address; raises `MailError`."""
        if not self.cfg.enabled:
            raise MailError(
                "email is not set up: add host and sender to [email] in the config", temporary=False
            )
        recipient = parseaddr(str(msg["To"]))[1]
        sender = parseaddr(self.cfg.sender)[1]
        try:
            smtp = self._connect()
            try:
                self._login(smtp)
                return self._transfer(smtp, sender, recipient, msg)
            finally:
                smtp.close()
        except MailError:
            raise
        except smtplib.SMTPServerDisconnected:
            raise MailError(
                f"the mail server {self.where} closed the connection unexpectedly", temporary=True
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise _answer_error("the mail server", exc.smtp_code, exc.smtp_error) from None
        except ssl.SSLCertVerificationError as exc:
            raise MailError(
                f"the certificate of {self.cfg.host} could not be checked "
                f"({exc.verify_message}); is email.host the name on its certificate?",
                temporary=False,
            ) from None
        except ssl.SSLError as exc:
            raise MailError(
                f"a secure connection to {self.where} failed ({exc.reason or exc}); check "
                'email.security: port 465 usually wants "ssl", port 587 "starttls"',
                temporary=True,
            ) from None
        except socket.gaierror:
            raise MailError(
                f"cannot find the mail server {self.cfg.host!r}; check email.host "
                "and the box's internet connection",
                temporary=True,
            ) from None
        except ConnectionRefusedError:
            raise MailError(
                f"the mail server {self.where} refused the connection; check "
                "email.host and email.port",
                temporary=True,
            ) from None
        except TimeoutError:
            raise MailError(
                f"no answer from {self.where} within {self.cfg.timeout:g} seconds", temporary=True
            ) from None
        except OSError as exc:
            raise MailError(
                f"cannot reach the mail server {self.where}: {exc.strerror or exc}", temporary=True
            ) from None

    # -- the steps -----------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        host, port, timeout = self.cfg.host, self.cfg.port, self.cfg.timeout
        context = self.ssl_context or ssl.create_default_context()
        if self.cfg.security == "ssl":
            return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        try:
            if self.cfg.security == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise MailError(
                        f"the mail server {self.where} does not offer STARTTLS; try "
                        'email.security = "ssl" (often port 465)',
                        temporary=False,
                    )
                smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _login(self, smtp: smtplib.SMTP) -> None:
        if not self.cfg.username:
            return
        try:
            smtp.login(self.cfg.username, self._password())
        except smtplib.SMTPAuthenticationError as exc:
            raise MailError(
                f"the mail server did not accept the username and password for "
                f"{self.cfg.username} ({_said(exc.smtp_code, exc.smtp_error)}); many providers "
                "want an app password",
                temporary=False,
                code=exc.smtp_code,
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise MailError(
                "the mail server offers no login here; with a password, use "
                'email.security = "starttls" or "ssl"',
                temporary=False,
            ) from None

    def _password(self) -> str:
        if not self.password_file:
            return self.cfg.password
        try:
            return self.password_file.read_text().splitlines()[0].rstrip("\r\n")
        except (OSError, IndexError) as exc:
            why = getattr(exc, "strerror", None) or "it is empty"
            raise MailError(
                f"cannot read email.password_file {self.password_file}: {why}", temporary=False
            ) from None

    def _transfer(
        self, smtp: smtplib.SMTP, sender: str, recipient: str, msg: EmailMessage
    ) -> Accepted:
        smtp.ehlo_or_helo_if_needed()
        code, text = smtp.mail(sender)
        if code != 250:
            smtp.rset()
            raise _answer_error(f"the mail server refused the sender {sender}", code, text)
        code, text = smtp.rcpt(recipient)
        if code not in (250, 251):
            smtp.rset()
            what = f"the mail server refused the address {recipient}"
            raise _answer_error(what, code, text, recipient=True)
        # SMTP wants CRLF line ends; smtplib fixes them only in str, and a message has non-ASCII.
        code, text = smtp.data(msg.as_bytes(policy=msg.policy.clone(linesep="\r\n")))
        if code != 250:
            raise _answer_error("the mail server did not take the message", code, text)
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()  # the message is already accepted: a rude goodbye changes nothing
        return Accepted(code, _decode(text))


def _answer_error(what: str, code: int, text: bytes | str, recipient: bool = False) -> MailError:
    temporary = 400 <= code < 500 or code <= 0
    refused = recipient and 500 <= code < 600
    later = " (it will be tried again later)" if temporary else ""
    return MailError(
        f"{what}: {_said(code, text)}{later}", temporary=temporary, refused=refused, code=code
    )


def _said(code: int, text: bytes | str) -> str:
    return f"it said {code} {_decode(text)}".strip()


def _decode(text: bytes | str) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
