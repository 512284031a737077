"""A real SMTP server (aiosmtpd) on loopback for tests, with answers a test can script.

    with SmtpServer() as smtp:                       # plain; SmtpServer(tls=cert) for STARTTLS
        smtp.refuse("gone@example.org", "550 5.1.1 No such user")
        smtp.data_replies.append("451 4.3.0 Try again later")   # the next DATA is refused
        ... send to 127.0.0.1:smtp.port ...
        smtp.wait_for(1)                             # polls with a deadline, never sleeps blind
        msg = smtp.messages[0].message               # an email.message.EmailMessage

`self_signed_cert(folder)` makes a certificate for 127.0.0.1 and localhost with `cryptography`,
and `client_context(cert)` is an SSL context that trusts it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import certtools
from waiting import START_SECONDS, wait_for


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None = None

    @property
    def message(self) -> EmailMessage:
        data = self.data.replace(b"\r\n", b"\n")  # as a mail client would store it
        return message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]

    def part(self, subtype: str) -> str:
        """The text of the text/<subtype> part ("plain" or "html")."""
        body = self.message.get_body(preferencelist=(subtype,))
        assert body is not None and body.get_content_subtype() == subtype, f"no {subtype} part"
        return body.get_content()


@dataclass
class Handler:
    messages: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            login = session.auth_data.login.decode() if session.auth_data else None
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login)
            )
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on 127.0.0.1 and a free port. `tls`: (cert, key) files to offer STARTTLS with
    (then required); `logins`: username -> password to require a login."""

    def __init__(
        self,
        tls: tuple[Path, Path] | None = None,
        logins: dict[str, str] | None = None,
    ) -> None:
        self.handler = Handler()
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            kwargs |= {"tls_context": context, "require_starttls": True}
        if logins is not None:
            kwargs |= {
                "authenticator": _Authenticator(logins),
                "auth_required": True,
                "auth_require_tls": tls is not None,
            }
        kwargs.setdefault("ready_timeout", START_SECONDS)  # its own start deadline: 5 s by default
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **kwargs)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    @property
    def data_replies(self) -> list[str]:
        return self.handler.data_replies

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user here") -> None:
        self.handler.rcpt_replies[address.lower()] = reply

    def wait_for(self, count: int, timeout: float = START_SECONDS) -> list[Received]:
        """Poll until `count` messages arrived; fail after `timeout` seconds."""
        wait_for(
            lambda: len(self.messages) >= count,
            f"{count} messages at the SMTP server",
            seconds=timeout,
            output=lambda: f"{len(self.messages)} arrived",
        )
        return self.messages

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


class _Authenticator:
    def __init__(self, logins: dict[str, str]) -> None:
        self.logins = logins

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.logins.get(data.login.decode()) == (
            data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost."""
    return certtools.self_signed(folder, ["localhost"], ("127.0.0.1",))


def client_context(cert: Path) -> ssl.SSLContext:
    """An SSL context that trusts only `cert` (checking the host name as usual)."""
    return ssl.create_default_context(cafile=str(cert))
