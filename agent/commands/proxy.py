"""`houserules proxy`: start mitmproxy (mitmdump) with the HouseRules addon and the same config.

    houserules proxy                      the mode in [proxy] (regular: an explicit proxy on
                                          [proxy] listen; wireguard: on wireguard_listen)
    houserules proxy --mode wireguard     override the mode
    houserules proxy --dry-run            print the mitmdump command and stop
    houserules proxy -- --set k=v         anything after -- goes to mitmdump as it is
                                          (--set termlog_verbosity=info: more log)

mitmproxy's folder (`[proxy] confdir`, in the data folder) holds the box's certificate authority
and the WireGuard keys, so the dashboard can offer the certificate and the QR code. The command
becomes mitmdump (exec), so a service manager sees and stops mitmdump itself.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from agent.cli import CliError
from agent.config import Config

ADDON = Path(__file__).resolve().parent.parent / "proxy" / "addon.py"
MODES = ("regular", "wireguard")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "proxy", help="start the optional URL-level filter (mitmproxy) for devices marked inspect"
    )
    p.add_argument("--mode", choices=MODES, help="override [proxy] mode")
    p.add_argument("--dry-run", action="store_true", help="print the mitmdump command and stop")
    p.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more mitmdump options")
    p.set_defaults(func=cmd_proxy)


def find_mitmdump() -> str | None:
    """mitmdump from this Python's environment first, then from PATH."""
    beside = Path(sys.executable).parent / "mitmdump"
    return str(beside) if beside.is_file() else shutil.which("mitmdump")


def mitmdump_command(
    cfg: Config, mode: str | None = None, extra: Sequence[str] = (), mitmdump: str = "mitmdump"
) -> list[str]:
    p = cfg.proxy
    mode = mode or p.mode
    listen = p.listen if mode == "regular" else p.wireguard_listen
    extra = list(extra)
    extra = extra[1:] if extra[:1] == ["--"] else extra
    options = {
        "confdir": str(cfg.resolve(p.confdir).resolve()),
        # Bodies above the contacts limit are streamed, never held in memory (a Pi is small).
        "stream_large_bodies": f"{p.max_body_kb}k",
        # No line per request or connection (an SD card wears with every write): the query
        # log has what matters, and problems are still logged.
        "flow_detail": "0",
        "termlog_verbosity": "warn",
        # Connect to a site only when a request is let through (after the house rules), so a
        # blocked request never opens a connection, and every connection's name is looked up
        # through HouseRules first (agent/proxy/resolver.py).
        "connection_strategy": "lazy",
    }
    if cfg.source != Config().source:  # a file, not the built-in defaults
        options["houserules_config"] = str(Path(cfg.source).resolve())
    given = {v.split("=", 1)[0] for k, v in zip(extra, extra[1:], strict=False) if k == "--set"}
    cmd = [mitmdump, "--mode", f"{mode}@{listen.host}:{listen.port}", "-s", str(ADDON)]
    for name, value in options.items():
        if name not in given:  # `-- --set termlog_verbosity=info` wins over ours
            cmd += ["--set", f"{name}={value}"]
    return cmd + extra


def cmd_proxy(cfg: Config, args: argparse.Namespace) -> int:
    mitmdump = find_mitmdump()
    cmd = mitmdump_command(cfg, args.mode, args.extra or (), mitmdump or "mitmdump")
    if args.dry_run:
        print(shlex.join(cmd))
        return 0
    if mitmdump is None:
        raise CliError("mitmproxy is not installed: pip install 'houserules[proxy]'")
    mode = args.mode or cfg.proxy.mode
    where = cfg.proxy.listen if mode == "regular" else cfg.proxy.wireguard_listen
    print(f"HouseRules proxy ({mode} on {where}) with {cfg.source}", file=sys.stderr)
    sys.stderr.flush()
    os.execv(mitmdump, cmd)
    return 0  # not reached
