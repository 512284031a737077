"""What a parent hears about new contacts: one "new contact" event per person.

A contact is new when the store had not seen that account for that child on that service. It is
a stranger to the child's contacts by that measure, so on a service flagged
`chat_with_strangers` in the app catalogue (Roblox, Discord...) the event is an alert; elsewhere
a notice. Contacts from a list's first sighting are the child's history, not news: the store
records them quietly (see `agent.proxy.recorder`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from agent.events import Event, EventKind, Severity
from agent.proxy.contacts.base import Contact
from agent.rules.catalog import App
from agent.store.events import KeyedEvent

STRANGERS = "chat_with_strangers"


def new_contact_events(
    child: str,
    device: str | None,
    contacts: Iterable[Contact],
    app: App | None,
    when: datetime,
) -> list[KeyedEvent]:
    """An event for each contact (already known to be new for `child`)."""
    flags = sorted(app.flags) if app is not None else []
    severity = Severity.ALERT if STRANGERS in flags else Severity.NOTICE
    out = []
    for c in contacts:
        details = {
            "service": c.service,
            "service_name": app.name if app is not None else c.service,
            "account": c.account,
            "handle": c.handle,
            "display_name": c.display_name,
            "contact": c.label,
            "kind": str(c.kind),
            "stranger": True,
            "flags": flags,
            "category": app.category if app is not None else None,
        }
        event = Event(when, EventKind.NEW_CONTACT, severity, child, device, c.service, details)
        out.append(KeyedEvent(event, f"new_contact:{child}:{c.service}:{c.account}"))
    return out
