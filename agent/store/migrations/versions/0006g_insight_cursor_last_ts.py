"""insights: the cursor keeps the time of the last row it processed

Query-log ids start again from 1 when the table is emptied; the time tells the insights job
whether the cursor's id still means the row it processed.

Revision ID: 0006g
Revises: 0005f
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006g"
down_revision: str | None = "0005f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("insight_cursor", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_ts", sa.Float(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("insight_cursor", schema=None) as batch_op:
        batch_op.drop_column("last_ts")
