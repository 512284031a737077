"""overlays: temporary changes with an end; lifted schedules put back

Revision ID: 0005h
Revises: 0004
Created: 2026-12-01 22:00:00

"More time" used to take schedules out of the household and keep copies in the request's row
(`child_requests.lifted`) until the time was up. Now it is an overlay that holds a schedule off
until it ends. Any schedule still lifted here is put back now (unless the child has a schedule
of that name again), and if its extra time has not ended yet it gets an overlay for the rest.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, time

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005h"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Typed binds: SQLite gets naive UTC text, PostgreSQL a timestamp with time zone.
UTC_TIME = sqlmodel.sql.sqltypes.UTCDateTime()


def upgrade() -> None:
    op.create_table(
        "overlays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("target_kind", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    with op.batch_alter_table("overlays", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_overlays_child_id"), ["child_id"], unique=False, if_not_exists=True
        )
    _put_lifted_schedules_back(op.get_bind())


def _put_lifted_schedules_back(conn: sa.Connection) -> None:
    inspector = sa.inspect(conn)
    if not {"child_requests", "schedules", "children"} <= set(inspector.get_table_names()):
        return
    now = datetime.now(UTC)
    lifted = conn.execute(
        sa.text(
            "SELECT id, child_id, lifted, lift_until FROM child_requests "
            "WHERE lift_until IS NOT NULL AND restored = :no"
        ),
        {"no": False},  # a bound boolean: SQLite stores 0/1, PostgreSQL has a boolean type
    ).all()
    children = {r.id for r in conn.execute(sa.text("SELECT id FROM children"))}
    for request in lifted:
        if request.child_id in children:
            until = datetime.fromtimestamp(request.lift_until, UTC)
            for saved in json.loads(request.lifted or "[]"):
                _put_back(conn, request.id, request.child_id, saved, until, now)
        conn.execute(
            sa.text("UPDATE child_requests SET restored = :yes WHERE id = :id"),
            {"yes": True, "id": request.id},
        )
    if lifted:
        _bump(conn)


def _put_back(
    conn: sa.Connection, request_id: int, child_id: int, saved: dict, until: datetime, now: datetime
) -> None:
    names = conn.execute(
        sa.text("SELECT lower(name) FROM schedules WHERE child_id = :c"), {"c": child_id}
    ).scalars()
    if saved["name"].lower() in set(names):
        return  # a parent has made a schedule of that name since: theirs stands
    schedule_id = conn.execute(
        sa.text(
            # "end" is a reserved word in PostgreSQL (and quoting it is plain SQL for SQLite)
            'INSERT INTO schedules (child_id, name, days, start, "end", block_all, block, allow) '
            "VALUES (:c, :n, :d, :s, :e, :ba, :b, :a) RETURNING id"
        ).bindparams(sa.bindparam("s", type_=sa.Time()), sa.bindparam("e", type_=sa.Time())),
        {
            "c": child_id,
            "n": saved["name"],
            "d": ",".join(str(d) for d in sorted(saved["days"])),
            "s": _time_of(saved["start"]),
            "e": _time_of(saved["end"]),
            "ba": bool(saved["block_all"]),
            "b": ",".join(sorted(saved["block"])),
            "a": ",".join(sorted(saved["allow"])),
        },
    ).scalar_one()
    if until > now:
        conn.execute(
            sa.text(
                "INSERT INTO overlays (child_id, kind, until, schedule_id, request_id, created) "
                "VALUES (:c, 'more_time', :u, :s, :r, :n)"
            ).bindparams(sa.bindparam("u", type_=UTC_TIME), sa.bindparam("n", type_=UTC_TIME)),
            {
                "c": child_id,
                "u": until,
                "s": schedule_id,
                "r": request_id,
                "n": now,
            },
        )


def _time_of(iso: str) -> time:
    """A saved "21:00" or "21:00:00" as a time (bound as a Time, so each database gets its own
    spelling)."""
    hour, minute, *rest = (iso.split(":") + ["0"])[:3]
    return time(int(hour), int(minute), int(float(rest[0])))


def _bump(conn: sa.Connection) -> None:
    done = conn.execute(sa.text("UPDATE household_meta SET version = version + 1 WHERE id = 1"))
    if not done.rowcount:
        conn.execute(sa.text("INSERT INTO household_meta (id, version) VALUES (1, 1)"))


def downgrade() -> None:
    with op.batch_alter_table("overlays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_overlays_child_id"))
    op.drop_table("overlays")
