"""Urgent alerts: the words that ask a carer to act today, calmly, and the helplines the event
carries in its details (each a route with a name, and a phone number or a web address).

Shared by Home, the alerts page and the alert email, so they all say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agent.events.model import Event, Severity

HEADING = "Needs you today"
LIFE_AT_RISK = "If a life is at risk right now, call 999."


@dataclass(frozen=True)
class Helpline:
    name: str
    phone: str | None = None
    url: str | None = None
    when: str | None = None
    contact: str | None = None  # another way to reach them: "Text SHOUT to 85258"

    @property
    def tel(self) -> str | None:
        """The phone number as a `tel:` link can dial it ("text 85258" stays as words)."""
        if not self.phone:
            return None
        digits = "".join(ch for ch in self.phone if ch.isdigit() or ch == "+")
        return digits if digits and self.phone[:1].isdigit() else None

    def line(self) -> str:
        """One line of plain text: "Samaritans: 116 123 (any time): https://..."."""
        text = self.name + (f": {self.phone}" if self.phone else "")
        text += f" ({self.contact})" if self.contact else ""
        if self.when:
            text += f" ({self.when})"
        return text + (f" {self.url}" if self.url else "")


def is_urgent(event: Event) -> bool:
    return event.severity is Severity.URGENT


def helplines(event: Event) -> list[Helpline]:
    """The helplines stored with the event, in the order given; malformed entries are skipped."""
    out = []
    for r in event.details.get("routes") or ():
        if not isinstance(r, dict) or not _text(r.get("name")):
            continue
        phone, url, contact = _text(r.get("phone")), _text(r.get("url")), _text(r.get("contact"))
        if phone or url or contact:
            when = _text(r.get("when"))
            out.append(Helpline(r["name"].strip(), phone, url, when, contact))
    return out


def act_today(event: Event) -> str:
    """What to do, calmly: today, without blame, and who can help."""
    who = event.child or "your child"
    return (
        f"Please make time today to check in with {who}, calmly and without blame: find a quiet "
        "moment, listen, believe what they tell you and stay with them. You don't need to have "
        f"the answers; the people below are there for you both. {LIFE_AT_RISK}"
    )


def guide_id(event: Event) -> str | None:
    guide = event.details.get("guide")
    return _text(guide.get("id")) if isinstance(guide, dict) else None


def prompt_id(event: Event) -> str | None:
    """The conversation prompt the event names for itself (a worrying search's concern)."""
    prompt = event.details.get("prompt")
    return _text(prompt.get("id")) if isinstance(prompt, dict) else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
