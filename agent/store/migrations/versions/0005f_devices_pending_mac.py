"""devices: a MAC address seen at a device known by IP only, waiting for a parent to confirm it

Revision ID: 0005f
Revises: 0004
Created: 2026-12-01 21:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005f"
down_revision: str | None = "0005h"  # after the overlays (both branched from 0004)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before migrations may have it already.
    if "pending_mac" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("devices")}:
        return
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pending_mac", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("pending_mac")
