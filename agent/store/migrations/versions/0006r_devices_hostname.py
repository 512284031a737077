"""devices: the name a device calls itself (from its DHCP lease or mDNS), shown as a hint

Revision ID: 0006r
Revises: 0006g
Created: 2026-12-01 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006r"
down_revision: str | None = "0006g"  # after main's head at merge time
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A database made by create_all before migrations may have it already.
    if "hostname" in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("devices")}:
        return
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("hostname", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("hostname")
