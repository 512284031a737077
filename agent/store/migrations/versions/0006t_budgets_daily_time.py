"""budgets: daily time budgets, the minutes used today, and extra time on overlays

Revision ID: 0006t
Revises: 0006r
Created: 2026-12-01 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006t"
down_revision: str | None = "0006r"  # after main's head at merge time
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("days", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reset_hour", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["child_id"], ["children.id"]),
        sa.PrimaryKeyConstraint("id"),
        if_not_exists=True,
    )
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_budgets_child_id"), ["child_id"], unique=False, if_not_exists=True
        )
    op.create_table(
        "budget_use",
        sa.Column("budget_id", sa.Integer(), nullable=False),
        sa.Column("day", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("updated", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("budget_id"),
        if_not_exists=True,
    )
    # A database made by create_all before migrations may have the column already.
    if "minutes" not in {c["name"] for c in sa.inspect(op.get_bind()).get_columns("overlays")}:
        with op.batch_alter_table("overlays", schema=None) as batch_op:
            batch_op.add_column(sa.Column("minutes", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("overlays", schema=None) as batch_op:
        batch_op.drop_column("minutes")
    op.drop_table("budget_use")
    with op.batch_alter_table("budgets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_budgets_child_id"))
    op.drop_table("budgets")
