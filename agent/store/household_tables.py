"""The household's tables, the version counter, and the checks shared by the household store.

Internal to `agent.store.household` (which re-exports what callers need): keep SQL about the
household in these modules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time

from sqlalchemy import UniqueConstraint, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from agent.store.household_rows import (  # noqa: F401 - re-exported for the household store
    joined,
    to_child,
    to_device,
    to_pause,
    to_rule,
    to_schedule,
    utc,
    words,
)

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{1,63}$")
_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")


class HouseholdError(ValueError):
    """A mistake in what was asked (unknown child, bad MAC...); the message is one line."""


class ChildRow(SQLModel, table=True):
    __tablename__ = "children"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    name_key: str = Field(unique=True)  # lower-case name: names are unique ignoring case
    born: date
    protections_on: bool = True
    youtube_level: str | None = None
    safe_search: bool = True


class DeviceRow(SQLModel, table=True):
    __tablename__ = "devices"
    id: int | None = Field(default=None, primary_key=True)
    mac: str | None = Field(default=None, unique=True)
    ip: str | None = Field(default=None, index=True)
    name: str | None = None
    owner: str = "unassigned"
    child_id: int | None = Field(default=None, foreign_key="children.id")
    shared_with: str = ""  # comma-separated child ids
    inspect: bool = False
    first_seen: datetime | None = None  # UTC
    last_seen: datetime | None = None
    # Seen at this device's IP while it is known by IP only: bound only when a parent confirms.
    pending_mac: str | None = None
    hostname: str | None = None  # what the device calls itself (DHCP lease, mDNS): a hint only
    reserved_ip: str | None = None  # always handed this address by HouseRules' DHCP


class RuleRow(SQLModel, table=True):
    __tablename__ = "rules"
    __table_args__ = (UniqueConstraint("child_id", "kind", "value"),)
    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="children.id", index=True)
    verb: str
    kind: str
    value: str


class ScheduleRow(SQLModel, table=True):
    __tablename__ = "schedules"
    id: int | None = Field(default=None, primary_key=True)
    child_id: int = Field(foreign_key="children.id", index=True)
    name: str
    days: str  # comma-separated weekday numbers, 0 = Monday
    start: time
    end: time
    block_all: bool = False
    block: str = ""  # comma-separated categories and app ids
    allow: str = ""  # comma-separated domains


class PauseRow(SQLModel, table=True):
    __tablename__ = "pauses"
    id: int | None = Field(default=None, primary_key=True)
    child_id: int | None = Field(default=None, foreign_key="children.id")
    device_id: int | None = Field(default=None, foreign_key="devices.id")
    until: datetime  # UTC


class HouseholdMeta(SQLModel, table=True):
    __tablename__ = "household_meta"
    id: int = Field(default=1, primary_key=True)
    version: int = 0


@contextmanager
def changing(engine: Engine) -> Iterator[Session]:
    """A session whose work commits together with a version bump, or not at all."""
    with Session(engine, expire_on_commit=False) as session:
        yield session
        bump(session)
        session.commit()


def bump(session: Session) -> None:
    # One UPDATE, not read-then-write: two writers can never hand out the same number.
    stmt = update(HouseholdMeta).where(HouseholdMeta.id == 1)
    result = session.execute(stmt.values(version=HouseholdMeta.version + 1))
    if not result.rowcount:  # type: ignore[attr-defined]
        session.execute(insert(HouseholdMeta).values(id=1, version=1))


# Checks ------------------------------------------------------------------------------------


def check_name(text: str, what: str) -> str:
    name = " ".join(str(text).split())
    if not name or len(name) > 40 or "," in name:
        raise HouseholdError(f"{what} must be 1 to 40 characters with no commas, not {text!r}")
    return name


ADULT_AGE = 18


class NeedsConfirmation(HouseholdError):
    """A change that is allowed only when a parent says they mean it."""


def check_born(born: date, today: date, *, adult_ok: bool) -> int:
    """The age a birth date gives on `today`; a child is under 18 unless `adult_ok`."""
    if born > today or born.year < 1900:
        raise HouseholdError(f"{born.isoformat()} is not a possible date of birth")
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if age >= ADULT_AGE and not adult_ok:
        raise NeedsConfirmation(
            f"born {born.isoformat()} makes them {age}: the under-18 protections would stop. "
            "A child is added under 18; for an adult, mark their devices as an adult's"
        )
    return age


def check_domain(text: str) -> str:
    domain = text.strip().lower().rstrip(".").removeprefix("*.").removeprefix(".")
    if not _DOMAIN.match(domain):
        raise HouseholdError(f"{text!r} is not a domain like example.com")
    return domain


def normalise_ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise HouseholdError(f"{text!r} is not an IP address") from None


def normalise_mac(text: str) -> str:
    """aa:bb:cc:dd:ee:ff from any usual spelling (dashes, dots, upper case)."""
    digits = text.strip().lower().replace(":", "").replace("-", "").replace(".", "")
    if not _MAC_HEX.match(digits) or digits == "0" * 12:
        raise HouseholdError(f"{text!r} is not a MAC address like aa:bb:cc:dd:ee:ff")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def as_utc(moment: datetime) -> datetime:
    """A timezone-aware moment in UTC (SQLModel stores aware datetimes as UTC)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise HouseholdError("times must carry a timezone")
    return moment.astimezone(UTC)


def child_row(session: Session, child_id: int) -> ChildRow:
    row = session.get(ChildRow, child_id)
    if row is None:
        raise HouseholdError(f"there is no child with id {child_id}")
    return row


def device_row(session: Session, device_id: int) -> DeviceRow:
    row = session.get(DeviceRow, device_id)
    if row is None:
        raise HouseholdError(f"there is no device with id {device_id}")
    return row


# Rows -> snapshot dataclasses ---------------------------------------------------------------
