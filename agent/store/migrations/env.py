"""Alembic's environment: run by `agent.store.migrate`, which hands over an open connection.

There is no alembic.ini: `agent.store.migrate` builds the configuration, so the scripts ship
inside the package and the installed `houserules migrate` finds them.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from alembic.operations import ops
from sqlmodel import SQLModel

from agent.store.migrate import import_tables


def tolerate_existing_tables(_context: Any, _revision: Any, directives: list) -> None:
    """Generated revisions create tables and indexes only if they are missing. A database made
    by `create_all` before migrations existed holds the tables of its day (the query log
    writer even creates its own): `agent.store.migrate` stamps it at the newest revision it
    fully matches and upgrades from there, so later revisions must not trip over a table that
    is already present. Missing columns are still caught: `migrate` checks the result."""
    pending = list(directives[0].upgrade_ops.ops)
    while pending:
        op = pending.pop()
        if isinstance(op, ops.ModifyTableOps):
            pending.extend(op.ops)
        elif isinstance(op, ops.CreateTableOp | ops.CreateIndexOp):
            op.if_not_exists = True


import_tables()
config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through agent.store.migrate (houserules migrate, or python -m "
        'agent.store.migrate revision "..."), not the alembic command'
    )
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
    render_as_batch=True,
    compare_type=True,
    # agent.store.migrate makes SQLite's DDL transactional; one transaction per revision lets
    # an error name the revision that failed.
    transactional_ddl=True,
    transaction_per_migration=True,
    on_version_apply=config.attributes.get("on_version_apply") or (),
    process_revision_directives=tolerate_existing_tables,
)
with context.begin_transaction():
    context.run_migrations()
