"""The query-log writer's own module: one schema with the model, and no SQLAlchemy."""

from __future__ import annotations

import re
import subprocess
import sys

from agent.store.logwriter import SCHEMA
from agent.store.querylog import model_schema


def _words(sql: str) -> str:
    return re.sub(r"\s+", " ", sql).replace("( ", "(").replace(" )", ")").strip()


def test_the_written_out_schema_is_the_models() -> None:
    """The writer creates the table from SQL written out by hand; a column added to the model
    and not here would be missed, so the two must say the same."""
    assert [_words(s) for s in SCHEMA] == [_words(s) for s in model_schema()]


def test_the_writer_process_loads_no_orm() -> None:
    """It is a process of its own on a small box: SQLAlchemy, SQLModel and pydantic would
    triple its memory for nothing."""
    code = (
        "import sys, agent.store.logproc; "
        "print(sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pydantic') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
