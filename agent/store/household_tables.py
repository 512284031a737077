"""The household's tables, the version counter, and the checks shared by the household store.

Internal to `agent.store.household` (which re-exports what callers need): keep SQL about the
household in these modules.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time

from sqlalchemy import UniqueConstraint, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from agent.household.checks import (  # noqa: F401 - re-exported for the household store
    ADULT_AGE,
    HouseholdError,
    NeedsConfirmation,
    as_utc,
    check_born,
    check_domain,
    check_name,
    normalise_ip,
    normalise_mac,
)
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


# Rows by id -------------------------------------------------------------------------------


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
