"""devices: each device's own name for DNS over TLS (`<dot_id>.<box name>`), a random label

Revision ID: 0007n
Revises: 0006p
Created: 2026-12-01 23:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007n"
down_revision: str | None = "0006p"  # after main's head at merge time
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    bind = op.get_bind()
    # A database made by create_all before migrations may have it already.
    if "dot_id" not in {c["name"] for c in sa.inspect(bind).get_columns("devices")}:
        with op.batch_alter_table("devices", schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("dot_id", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
            )
            batch_op.create_unique_constraint("uq_devices_dot_id", ["dot_id"])
    # Devices already there get theirs when a parent first downloads their profile
    # (agent.store.household_devices.dot_id_for).


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_constraint("uq_devices_dot_id", type_="unique")
        batch_op.drop_column("dot_id")
