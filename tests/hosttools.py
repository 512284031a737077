"""What this machine lets a test do."""

from __future__ import annotations

import tempfile
from pathlib import Path


def _permissions_are_ignored() -> bool:
    """True when this process may write read-only files anyway (root, or CAP_DAC_OVERRIDE)."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.touch()
        probe.chmod(0o444)
        try:
            probe.open("a").close()
        except PermissionError:
            return False
        return True


ignores_permissions = _permissions_are_ignored()
