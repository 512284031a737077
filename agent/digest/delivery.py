"""One claimed email, sent, and the outcome recorded: sent, failed (tried again later) or refused.

A refused address (a 5xx answer to the recipient) is noted on the carer, so it shows on the
dashboard and that carer's emails wait for a new address; everyone else's go on as usual.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy.engine import Engine

from agent.digest.mailer import Accepted, MailError
from agent.store.carers import Carer, mark_address_refused
from agent.store.digest import SendRecord, finish

log = logging.getLogger("houserules.email")


class Sender(Protocol):
    def send(self, msg: EmailMessage) -> Accepted: ...


@dataclass(frozen=True)
class Outcome:
    carer: str
    what: str  # "weekly digest 2026-W47", "alert email (2 alerts)"
    status: str  # "sent" | "failed" | "refused" | "gave_up"
    detail: str  # the server's answer, or what went wrong

    def __str__(self) -> str:
        return f"{self.what} for {self.carer}: {self.status} ({self.detail})"


def deliver(
    engine: Engine,
    mailer: Sender,
    record: SendRecord,
    carer: Carer,
    msg: EmailMessage,
    now: datetime,
    what: str,
) -> Outcome:
    try:
        accepted = mailer.send(msg)
    except MailError as exc:
        if exc.refused:
            mark_address_refused(engine, carer.id, str(exc), now)
        done = finish(engine, record, now, error=str(exc), refused=exc.refused)
        log.warning("%s for %s not sent: %s", what, carer.name, exc)
        return Outcome(carer.name, what, done.status, str(exc))
    finish(engine, record, now)
    log.info("%s sent to %s", what, carer.name)
    return Outcome(carer.name, what, "sent", str(accepted))


def failed(
    engine: Engine, record: SendRecord, carer: Carer, now: datetime, what: str, exc: Exception
) -> Outcome:
    """Building the email went wrong (not the mail server): recorded, tried again later."""
    problem = f"HouseRules could not put the email together: {exc}"
    log.error("%s for %s: %s", what, carer.name, problem)
    done = finish(engine, record, now, error=problem)
    return Outcome(carer.name, what, done.status, problem)
