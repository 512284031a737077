"""The dashboard's defences that are not a page: the secret key, the setup code, the headers.

Children share the parents' network, so the dashboard assumes someone on the Wi-Fi is trying
to get in:

- The cookie-signing key is made on first run in the data folder (mode 0600), never shipped.
- The first account needs a one-time setup code, printed when the dashboard starts and kept in
  a file beside the key: being on the Wi-Fi before the parent is not enough to claim the box.
- Every response carries a Content-Security-Policy with no inline script and no framing, and
  pages with family data are never cached.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from pathlib import Path

from flask import Response

SETUP_CODE_FILE = "dashboard-setup-code"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def add_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def _write_private(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(content + "\n")


def secret_key(path: Path) -> str:
    """The key in `path`, made (readable by this user only) if there is none yet."""
    with contextlib.suppress(FileExistsError):  # made before: keep it
        _write_private(path, secrets.token_hex(32))
    key = path.read_text().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key: delete it and start again")
    return key


def setup_code_path(secret_key_path: Path) -> Path:
    return secret_key_path.with_name(SETUP_CODE_FILE)


def ensure_setup_code(path: Path) -> str:
    """The one-time code for the first account, made if there is none yet."""
    code = "-".join("".join(secrets.choice(_CODE_ALPHABET) for _ in range(4)) for _ in range(2))
    with contextlib.suppress(FileExistsError):
        _write_private(path, code)
    return path.read_text().strip()


def setup_code_matches(path: Path, given: str) -> bool:
    try:
        expected = path.read_text().strip()
    except OSError:
        return False
    cleaned = given.strip().upper().replace(" ", "")
    if "-" not in cleaned and len(cleaned) == 8:
        cleaned = f"{cleaned[:4]}-{cleaned[4:]}"
    return bool(expected) and hmac.compare_digest(cleaned.encode(), expected.encode())


def forget_setup_code(path: Path) -> None:
    path.unlink(missing_ok=True)
