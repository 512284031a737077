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
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005h"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "overlays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("until", sa.DateTime(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.Column("target_kind", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("created", sa.DateTime(), nullable=True),
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
            "WHERE lift_until IS NOT NULL AND restored = 0"
        )
    ).all()
    children = {r.id for r in conn.execute(sa.text("SELECT id FROM children"))}
    for request in lifted:
        if request.child_id in children:
            until = datetime.fromtimestamp(request.lift_until, UTC)
            for saved in json.loads(request.lifted or "[]"):
                _put_back(conn, request.id, request.child_id, saved, until, now)
        conn.execute(
            sa.text("UPDATE child_requests SET restored = 1 WHERE id = :id"), {"id": request.id}
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
            "INSERT INTO schedules (child_id, name, days, start, end, block_all, block, allow) "
            "VALUES (:c, :n, :d, :s, :e, :ba, :b, :a) RETURNING id"
        ),
        {
            "c": child_id,
            "n": saved["name"],
            "d": ",".join(str(d) for d in sorted(saved["days"])),
            "s": _time_text(saved["start"]),
            "e": _time_text(saved["end"]),
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
            ),
            {
                "c": child_id,
                "u": _stored(until),
                "s": schedule_id,
                "r": request_id,
                "n": _stored(now),
            },
        )


def _time_text(iso: str) -> str:
    """A time as SQLAlchemy stores it in SQLite ("21:00:00.000000")."""
    hour, minute, *rest = (iso.split(":") + ["0"])[:3]
    return f"{int(hour):02d}:{int(minute):02d}:{int(float(rest[0])):02d}.000000"


def _stored(moment: datetime) -> str:
    """A UTC datetime as SQLAlchemy stores it in SQLite (naive ISO text)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _bump(conn: sa.Connection) -> None:
    done = conn.execute(sa.text("UPDATE household_meta SET version = version + 1 WHERE id = 1"))
    if not done.rowcount:
        conn.execute(sa.text("INSERT INTO household_meta (id, version) VALUES (1, 1)"))


def downgrade() -> None:
    with op.batch_alter_table("overlays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_overlays_child_id"))
    op.drop_table("overlays")
