"""Whole emails, ready for the mail server: a plain-text part, an HTML part, and the headers.

Message-IDs are fixed per email (`digest.2026-W47.carer-3`, `alert.12`): if a send is repeated
after a crash, many mail services see the same message twice and keep one.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from agent.digest.model import Digest
from agent.digest.render_html import render_html, render_note
from agent.digest.render_text import render_text


def message(
    sender: str,
    to: tuple[str, str],
    subject: str,
    text: str,
    html: str | None,
    now: datetime,
    key: str | None,
) -> EmailMessage:
    """`to` is (name, address); `key` makes the Message-ID (None: a new, random one)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = formataddr(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = (
        message_id(key, sender) if key else make_msgid("houserules", _domain(sender))
    )
    # RFC 3834: an automatic message; out-of-office replies should not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def digest_message(
    digest: Digest, sender: str, to: tuple[str, str], now: datetime, key: str
) -> EmailMessage:
    return message(sender, to, digest.subject, render_text(digest), render_html(digest), now, key)


def email_test_message(sender: str, address: str, now: datetime) -> EmailMessage:
    text = (
        "This is a test email from HouseRules, the parental-control box at home.\n\n"
        "If you can read it, weekly digests and alert emails will reach this address.\n"
        "Nothing to do.\n"
    )
    html = render_note(
        "A test from HouseRules",
        ["If you can read this, weekly digests and alert emails will reach this address.",
         "Nothing to do."],
        [],
        "",
        "Sent by HouseRules to check that email reaches this address.",
    )  # fmt: skip
    return message(sender, ("", address), "HouseRules test email", text, html, now, None)


def message_id(key: str, sender: str) -> str:
    return f"<houserules.{key}@{_domain(sender)}>"


def _domain(sender: str) -> str:
    return parseaddr(sender)[1].rpartition("@")[2] or "houserules.local"
