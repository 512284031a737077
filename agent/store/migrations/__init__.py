"""Alembic's environment and revisions for `agent.store.migrate` (a package, so it ships)."""
