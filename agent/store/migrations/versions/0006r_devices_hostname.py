"""devices: the name a device calls itself (DHCP lease, mDNS), and an address kept for it by
HouseRules' DHCP

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


COLUMNS = ("hostname", "reserved_ip")


def upgrade() -> None:
    # A database made by create_all before migrations may have them already.
    have = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("devices")}
    with op.batch_alter_table("devices", schema=None) as batch_op:
        for name in COLUMNS:
            if name not in have:
                batch_op.add_column(
                    sa.Column(name, sqlmodel.sql.sqltypes.AutoString(), nullable=True)
                )


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.drop_column(name)
