"""The parents' dashboard (Flask): `create_app` is in `dashboard.app`, serving in
`dashboard.server`, and `dashboard.ondemand` starts it on the jobs process's first request.

Importing the package loads no Flask: the jobs process listens for the dashboard from its start
but builds the app (Flask, its pages, waitress) only when a parent first opens a page, so a box
nobody looks at carries none of it. `from dashboard import create_app` (and `csrf`) still work.
"""

from __future__ import annotations

from typing import Any

_FROM_APP = frozenset({"create_app", "csrf", "PUBLIC", "SELF_GUARDED"})


def __getattr__(name: str) -> Any:
    if name in _FROM_APP:
        from dashboard import app

        return getattr(app, name)
    raise AttributeError(f"module 'dashboard' has no attribute {name!r}")
