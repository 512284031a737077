"""Contacts in the database: who each child has become friends with or started talking to.

Filled by the proxy addon's writer thread from the responses of services with documented web
APIs (`agent.proxy.contacts`); read by the dashboard, per child. A contact is one account on
one service for one child (unique); the first sighting is kept. `contact_listings` remembers
which whole lists (all Roblox friends, all Discord conversations) have been seen for a child,
so the first sighting of one is recorded as history and only later additions are news.
Times go in timezone-aware and are stored as unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import UniqueConstraint, text
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from agent.events.contacts import Contact, ContactKind


class ContactRow(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("child", "service", "account"),)

    id: int | None = Field(default=None, primary_key=True)
    child: str = Field(index=True)
    service: str  # the app catalogue's id
    account: str  # the service's own id for the person, or "group:<id>"
    handle: str | None = None
    display_name: str | None = None
    kind: str  # friend | friend_request | dm | group: how the box first saw them
    first_seen: float  # unix seconds
    device: str | None = None  # MAC, else IP address, of the device it was seen on


class ContactListing(SQLModel, table=True):
    __tablename__ = "contact_listings"

    child: str = Field(primary_key=True)
    listing: str = Field(primary_key=True)  # "roblox:friends", "discord:channels"
    first_seen: float


@dataclass(frozen=True)
class KnownContact:
    child: str
    contact: Contact
    first_seen: datetime  # UTC
    device: str | None = None


_INSERT = text(
    "INSERT INTO contacts (child, service, account, handle, display_name, kind, first_seen,"
    " device) VALUES (:child, :service, :account, :handle, :display_name, :kind, :first_seen,"
    " :device) ON CONFLICT (child, service, account) DO NOTHING"
)
_COLUMNS = "child, service, account, handle, display_name, kind, first_seen, device"


def record_contacts(
    engine: Engine,
    child: str,
    contacts: Iterable[Contact],
    when: datetime,
    device: str | None = None,
) -> list[Contact]:
    """Store the contacts `child` did not have yet; returns those (the new ones), in order."""
    wanted: dict[tuple[str, str], Contact] = {}
    for c in contacts:
        wanted.setdefault((c.service, c.account), c)
    if not wanted:
        return []
    with engine.begin() as conn:
        services = sorted({service for service, _ in wanted})
        names = ", ".join(f":s{i}" for i in range(len(services)))
        params: dict[str, Any] = {"child": child} | {f"s{i}": s for i, s in enumerate(services)}
        sql = f"SELECT service, account FROM contacts WHERE child = :child AND service IN ({names})"
        rows = conn.execute(text(sql), params)
        have = {(r.service, r.account) for r in rows}
        new = [c for key, c in wanted.items() if key not in have]
        if new:
            conn.execute(_INSERT, [_params(child, c, when, device) for c in new])
    return new


def note_listing(engine: Engine, child: str, listing: str, when: datetime) -> bool:
    """Remember that `listing` was seen for `child`; True the first time."""
    with engine.begin() as conn:
        done = conn.execute(
            text(
                "INSERT INTO contact_listings (child, listing, first_seen) VALUES"
                " (:child, :listing, :t) ON CONFLICT (child, listing) DO NOTHING"
            ),
            {"child": child, "listing": listing, "t": _ts(when)},
        )
        return bool(done.rowcount)


def known_contacts(engine: Engine, child: str, service: str | None = None) -> list[KnownContact]:
    """A child's contacts, newest first (the dashboard's list)."""
    where, params = "child = :child", {"child": child}
    if service is not None:
        where, params = where + " AND service = :service", params | {"service": service}
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT {_COLUMNS} FROM contacts WHERE {where} ORDER BY first_seen DESC, id DESC"
            ),
            params,
        ).all()
    return [_known(r) for r in rows]


def contacts_for_export(engine: Engine, child: str) -> list[dict[str, Any]]:
    """A child's contacts as plain JSON-ready dicts, oldest first."""
    return [
        {
            "service": k.contact.service,
            "account": k.contact.account,
            "handle": k.contact.handle,
            "display_name": k.contact.display_name,
            "kind": str(k.contact.kind),
            "first_seen": k.first_seen.isoformat(),
            "device": k.device,
        }
        for k in reversed(known_contacts(engine, child))
    ]


def forget_child(engine: Engine, child: str) -> int:
    """Delete everything stored about `child`'s contacts; returns how many contacts."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM contact_listings WHERE child = :c"), {"c": child})
        return conn.execute(text("DELETE FROM contacts WHERE child = :c"), {"c": child}).rowcount


def _params(child: str, c: Contact, when: datetime, device: str | None) -> dict[str, Any]:
    return {
        "child": child,
        "service": c.service,
        "account": c.account,
        "handle": c.handle,
        "display_name": c.display_name,
        "kind": str(c.kind),
        "first_seen": _ts(when),
        "device": device,
    }


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _known(r: Any) -> KnownContact:
    contact = Contact(r.service, r.account, ContactKind(r.kind), r.handle, r.display_name)
    return KnownContact(r.child, contact, datetime.fromtimestamp(r.first_seen, UTC), r.device)
