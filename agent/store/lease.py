"""Leases in the database: which process holds a named job lease, and until when.

Two boxes of one household share a database; each runs a jobs process, and one of them at a time
does the household's jobs (`agent.ops.leader`). The choice is a row in `job_lease`, one per
lease name: the holder renews it every few seconds; anyone may take it once its time is up.
Taking and renewing are one conditional UPDATE (or the first INSERT), so two processes asking at
once never both get it, on SQLite (one writer at a time) as on PostgreSQL (the row is locked and
the condition checked again after the other's commit).

Times are the database's clock where there is one (PostgreSQL's `clock_timestamp()`), so boxes
whose clocks disagree still agree about when a lease ends; a SQLite file lives on one box, whose
clock is the one. Tests pass `now` instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, SQLModel

HOUSEHOLD = "household"  # the lease for the household's jobs


class JobLeaseRow(SQLModel, table=True):
    __tablename__ = "job_lease"
    name: str = Field(primary_key=True)  # what the lease is for: "household"
    holder: str  # the process holding it: "<box>:<pid>:<random>"
    box: str  # the holder's box, as people know it (its host name or [jobs] box_name)
    taken_at: float  # unix seconds: when this holder took it
    renewed_at: float
    expires_at: float


@dataclass(frozen=True)
class Lease:
    """Who holds a lease and until when (times in UTC)."""

    name: str
    holder: str
    box: str
    taken_at: datetime
    renewed_at: datetime
    expires_at: datetime
    now: datetime  # the database's time when it was read

    @property
    def live(self) -> bool:
        return self.expires_at > self.now

    @property
    def pid(self) -> int | None:
        parts = self.holder.rsplit(":", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def database_time(conn: Connection) -> float:
    """Now, in unix seconds, by the database's clock (this box's for SQLite)."""
    if conn.dialect.name == "postgresql":
        now = conn.execute(text("SELECT extract(epoch FROM clock_timestamp())")).scalar_one()
        return float(now)
    return time.time()


def hold(
    engine: Engine, name: str, holder: str, box: str, seconds: float, *, now: float | None = None
) -> Lease | None:
    """Take or renew lease `name` for `holder` until `seconds` from now; the lease if held,
    None if another holder's has not run out."""
    with engine.begin() as conn:
        t = database_time(conn) if now is None else now
        values = {"n": name, "h": holder, "b": box, "t": t, "e": t + seconds}
        added = conn.execute(
            text(
                "INSERT INTO job_lease (name, holder, box, taken_at, renewed_at, expires_at) "
                "VALUES (:n, :h, :b, :t, :t, :e) ON CONFLICT (name) DO NOTHING"
            ),
            values,
        ).rowcount
        if not added:
            moved = conn.execute(
                text(
                    "UPDATE job_lease SET taken_at = CASE WHEN holder = :h THEN taken_at "
                    "ELSE :t END, holder = :h, box = :b, renewed_at = :t, expires_at = :e "
                    "WHERE name = :n AND (holder = :h OR expires_at <= :t)"
                ),
                values,
            ).rowcount
            if not moved:
                return None
        return _read(conn, name, t)


def release(engine: Engine, name: str, holder: str, *, now: float | None = None) -> bool:
    """Give lease `name` up at once if `holder` has it (a box stopping cleanly), so another
    takes it at its next try rather than when it runs out; True if it was held."""
    with engine.begin() as conn:
        t = database_time(conn) if now is None else now
        return bool(
            conn.execute(
                text(
                    "UPDATE job_lease SET expires_at = :t WHERE name = :n AND holder = :h "
                    "AND expires_at > :t"
                ),
                {"n": name, "h": holder, "t": t},
            ).rowcount
        )


def current(engine: Engine, name: str = HOUSEHOLD, *, now: float | None = None) -> Lease | None:
    """The lease as it stands (held or run out), or None if nobody ever took it."""
    with engine.connect() as conn:
        return _read(conn, name, database_time(conn) if now is None else now)


def _read(conn: Connection, name: str, now: float) -> Lease | None:
    row = conn.execute(text("SELECT * FROM job_lease WHERE name = :n"), {"n": name}).first()
    if row is None:
        return None
    return Lease(
        name=row.name,
        holder=row.holder,
        box=row.box,
        taken_at=_when(row.taken_at),
        renewed_at=_when(row.renewed_at),
        expires_at=_when(row.expires_at),
        now=_when(now),
    )


def _when(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
