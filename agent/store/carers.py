"""Carers in the database: the adults who get news about the children, by email.

A carer has a name (unique, ignoring case), an email address, the children they hear about, whether
they want alert emails, and a weekly digest day and time (the box's time zone). When a mail server
refuses a carer's address for good, `mark_address_refused` records the server's words, the
digest and alerts for that carer wait, and a new address (`update_carer`) clears it. Mistakes a
parent can fix raise `CarerError` with a one-line message. Times come back as UTC datetimes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

from agent.store.household_tables import ChildRow

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\".]{2,}$")
KEEP: Any = object()  # "leave this as it is" for update_carer


class CarerError(ValueError):
    """A mistake in what was asked (unknown child, bad address...); the message is one line."""


class CarerRow(SQLModel, table=True):
    __tablename__ = "carers"
    id: int | None = Field(default=None, primary_key=True)
    name: str
    name_key: str = Field(unique=True)  # lower-case: names are unique ignoring case
    email: str
    alerts: bool = False
    digest_day: int = 6  # 0 = Monday
    digest_time: str = "18:00"  # local HH:MM
    created_at: float  # unix seconds
    address_problem: str | None = None  # the server's words when it refused the address
    address_problem_at: float | None = None


class CarerChildRow(SQLModel, table=True):
    __tablename__ = "carer_children"
    carer_id: int = Field(foreign_key="carers.id", primary_key=True, ondelete="CASCADE")
    child_id: int = Field(foreign_key="children.id", primary_key=True, ondelete="CASCADE")


@dataclass(frozen=True)
class Carer:
    id: int
    name: str
    email: str
    children: tuple[str, ...]  # child names, eldest first
    alerts: bool
    digest_day: int  # 0 = Monday
    digest_time: time  # local
    created_at: datetime  # UTC
    address_problem: str | None = None
    address_problem_at: datetime | None = None

    @property
    def digest_when(self) -> str:
        """When the digest goes out, like "Sundays at 18:00"."""
        return f"{DAYS[self.digest_day].capitalize()}s at {self.digest_time:%H:%M}"


# Checks ------------------------------------------------------------------------------------


def check_email(address: str) -> str:
    address = address.strip()
    if not _EMAIL.match(address) or len(address) > 254:
        raise CarerError(f"{address!r} does not look like an email address")
    return address


def parse_day(textual: str) -> int:
    """A day of the week: sun, Sunday or 6 (Monday is 0)."""
    word = textual.strip().lower()
    for i, day in enumerate(DAYS):
        if len(word) >= 3 and day.startswith(word):
            return i
    if word.isdigit() and 0 <= int(word) <= 6:
        return int(word)
    raise CarerError(f"{textual!r} is not a day of the week (mon, tue, ... sun)")


def parse_time(textual: str) -> time:
    """A time of day like 18:00."""
    hour, sep, minute = textual.strip().partition(":")
    digits = sep and hour.isdigit() and minute.isdigit() and len(minute) == 2
    if digits and 0 <= int(hour) <= 23 and 0 <= int(minute) <= 59:
        return time(int(hour), int(minute))
    raise CarerError(f"{textual!r} is not a time like 18:00")


def _check_name(name: str) -> str:
    name = " ".join(str(name).split())
    if not name or len(name) > 40 or "," in name:
        raise CarerError(f"A carer's name must be 1 to 40 characters with no commas, not {name!r}")
    return name


# Changes -----------------------------------------------------------------------------------


def add_carer(
    engine: Engine,
    name: str,
    email: str,
    children: Iterable[str],
    *,
    alerts: bool = False,
    digest_day: int = 6,
    digest_time: time = time(18, 0),
    now: datetime,
) -> Carer:
    """Add a carer who hears about the named children (names as the household has them)."""
    name, email = _check_name(name), check_email(email)
    with engine.begin() as conn:
        child_ids = _child_ids(conn, children)
        taken = conn.execute(
            text("SELECT 1 FROM carers WHERE name_key = :k"), {"k": name.lower()}
        ).first()
        if taken:
            raise CarerError(f"there is already a carer called {name}")
        carer_id = conn.execute(
            text(
                "INSERT INTO carers (name, name_key, email, alerts, digest_day, digest_time, "
                "created_at) VALUES (:n, :k, :e, :a, :d, :t, :c) RETURNING id"
            ),
            {
                "n": name,
                "k": name.lower(),
                "e": email,
                "a": alerts,
                "d": digest_day,
                "t": f"{digest_time:%H:%M}",
                "c": _ts(now),
            },
        ).scalar_one()
        _link(conn, carer_id, child_ids)
        return _load(conn, carer_id)


def update_carer(
    engine: Engine,
    carer_id: int,
    *,
    email: str = KEEP,
    children: Iterable[str] = KEEP,
    alerts: bool = KEEP,
    digest_day: int = KEEP,
    digest_time: time = KEEP,
) -> Carer:
    """Change what is given. A new address clears a refused one (the digest is tried again)."""
    with engine.begin() as conn:
        _row(conn, carer_id)
        values: dict[str, Any] = {}
        if email is not KEEP:
            values.update(email=check_email(email), address_problem=None, address_problem_at=None)
        if alerts is not KEEP:
            values["alerts"] = bool(alerts)
        if digest_day is not KEEP:
            values["digest_day"] = int(digest_day)
        if digest_time is not KEEP:
            values["digest_time"] = f"{digest_time:%H:%M}"
        if values:
            sets = ", ".join(f"{k} = :{k}" for k in values)
            conn.execute(
                text(f"UPDATE carers SET {sets} WHERE id = :id"), values | {"id": carer_id}
            )
        if children is not KEEP:
            ids = _child_ids(conn, children)
            conn.execute(text("DELETE FROM carer_children WHERE carer_id = :id"), {"id": carer_id})
            _link(conn, carer_id, ids)
        return _load(conn, carer_id)


def remove_carer(engine: Engine, carer_id: int) -> None:
    """Remove a carer and their send records."""
    with engine.begin() as conn:
        _row(conn, carer_id)
        conn.execute(text("DELETE FROM carers WHERE id = :id"), {"id": carer_id})


def mark_address_refused(engine: Engine, carer_id: int, problem: str, when: datetime) -> None:
    """The mail server refused this carer's address for good; keep its words for the dashboard."""
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE carers SET address_problem = :p, address_problem_at = :t WHERE id = :id"),
            {"p": problem, "t": _ts(when), "id": carer_id},
        )


# Reading -----------------------------------------------------------------------------------


def list_carers(engine: Engine) -> tuple[Carer, ...]:
    """In the order they were added."""
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM carers ORDER BY id")).scalars().all()
        return tuple(_load(conn, i) for i in ids)


def get_carer(engine: Engine, carer_id: int) -> Carer | None:
    with engine.connect() as conn:
        try:
            return _load(conn, carer_id)
        except CarerError:
            return None


def get_carer_by_name(engine: Engine, name: str) -> Carer | None:
    """The carer called `name` (ignoring case and extra spaces), or None."""
    key = " ".join(name.split()).lower()
    with engine.connect() as conn:
        found = conn.execute(text("SELECT id FROM carers WHERE name_key = :k"), {"k": key}).first()
        return _load(conn, found.id) if found is not None else None


# Helpers -----------------------------------------------------------------------------------


def _ts(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _child_ids(conn: Connection, names: Iterable[str]) -> list[int]:
    wanted = [" ".join(n.split()) for n in names if n.strip()]
    if not wanted:
        raise CarerError("a carer needs at least one child to hear about (--children Sam,Alex)")
    ids = []
    for name in wanted:
        # the household's tables are read the household store's way (SQLAlchemy expressions)
        found = conn.execute(select(ChildRow.id).where(ChildRow.name_key == name.lower())).first()
        if found is None:
            raise CarerError(f"no child called {name!r} (add them with houserules child add)")
        ids.append(found.id)
    return sorted(set(ids))


def _link(conn: Connection, carer_id: int, child_ids: list[int]) -> None:
    conn.execute(
        text("INSERT INTO carer_children (carer_id, child_id) VALUES (:c, :k)"),
        [{"c": carer_id, "k": k} for k in child_ids],
    )


def _row(conn: Connection, carer_id: int) -> Any:
    row = conn.execute(text("SELECT * FROM carers WHERE id = :id"), {"id": carer_id}).first()
    if row is None:
        raise CarerError(f"there is no carer number {carer_id}")
    return row


def _load(conn: Connection, carer_id: int) -> Carer:
    row = _row(conn, carer_id)
    ids = conn.execute(
        text("SELECT child_id FROM carer_children WHERE carer_id = :id"), {"id": carer_id}
    ).scalars()
    in_order = (ChildRow.born, ChildRow.id)
    names = conn.execute(
        select(ChildRow.name).where(ChildRow.id.in_(list(ids))).order_by(*in_order)  # type: ignore[attr-defined]
    ).scalars()
    problem_at = row.address_problem_at
    return Carer(
        id=row.id,
        name=row.name,
        email=row.email,
        children=tuple(names),
        alerts=bool(row.alerts),
        digest_day=row.digest_day,
        digest_time=parse_time(row.digest_time),
        created_at=datetime.fromtimestamp(row.created_at, UTC),
        address_problem=row.address_problem,
        address_problem_at=datetime.fromtimestamp(problem_at, UTC) if problem_at else None,
    )
