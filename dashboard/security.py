"""The dashboard's defences that are not a page: the secret key, the setup code, the headers.

Children share the parents' network, so the dashboard assumes someone on the Wi-Fi is trying
to get in:

- The cookie-signing key is made on first run in the data folder (mode 0600), never shipped.
- The first account needs a one-time setup code, printed when the dashboard starts and kept in
  a file beside the key: being on the Wi-Fi before the parent is not enough to claim the box.
- Every response carries a Content-Security-Policy with no inline script and no framing, and
  pages with family data are never cached.
- Only requests naming the dashboard's own host are answered (`HostCheck`): a web page whose
  name an attacker points at the box (DNS rebinding) sends its own name as Host and gets 400.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from flask import Response

log = logging.getLogger("houserules.dashboard")
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


def announce_setup_code(has_accounts: Callable[[], bool], path: Path, url: str) -> str | None:
    """With no parent account yet, log the setup code (the first account needs it)."""
    try:
        if has_accounts():
            return None
    except Exception:  # the database is away: the setup page says so when it is opened
        return None
    code = ensure_setup_code(path)
    log.warning(
        "no parent account yet: open %ssetup and enter the setup code %s (also in %s)",
        url,
        code,
        path,
    )
    return code


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


class HostCheck:
    """The Host headers that are the dashboard's own: its listen address, the box's names and
    addresses, and names from the config. An address counts as the box's when a socket can
    be bound to it (the kernel knows it as local); answers are remembered."""

    MAX_REMEMBERED = 256

    def __init__(self, listen_host: str, names: Iterable[str]) -> None:
        # a listen address of 0.0.0.0 or :: means "every address": those are checked one by one
        self.listen_host = "" if listen_host in ("0.0.0.0", "::") else listen_host.lower()
        self.names = frozenset(n.lower().rstrip(".") for n in names if n)
        self._local: dict[str, bool] = {}

    @classmethod
    def for_config(cls, cfg: Any, server_name: str | None = None) -> HostCheck:
        hostname = socket.gethostname().lower()
        names = ["localhost", hostname, socket.getfqdn().lower(), *cfg.dashboard.hostnames]
        if server_name:
            names.append(_without_port(server_name))
        names += [f"{hostname}.{suffix}" for suffix in ("local", "lan", "home.arpa")]
        for url in (cfg.email.dashboard_url, cfg.proxy.kids_url):
            if url:
                names.append(urlsplit(url).hostname or "")
        return cls(cfg.dashboard.listen.host, names)

    def allows(self, host_header: str) -> bool:
        host = _without_port(host_header.strip()).lower().rstrip(".")
        if host in self.names or (host and host == self.listen_host):
            return True
        known = self._local.get(host)
        if known is None:
            known = _is_local_address(host)
            if len(self._local) >= self.MAX_REMEMBERED:
                self._local.clear()
            self._local[host] = known
        return known


def _without_port(host: str) -> str:
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_local_address(host: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name, and not one of ours
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((str(ip), 0))
    except OSError:
        return False
    return not ip.is_unspecified and not ip.is_multicast
