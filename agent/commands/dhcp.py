"""`houserules dhcp check`: the step before switching HouseRules' own DHCP on.

Two DHCP servers on one network hand out clashing addresses, and devices that ask the router's
are told to use its DNS: the filter is bypassed without anyone trying. So before `[dhcp]` goes
on, this asks the network (a real DHCP DISCOVER on `[dhcp] interface`, nothing taken) and says
what to do: switch the router's DHCP off first, or go ahead.
"""

from __future__ import annotations

import argparse
from typing import Any

from agent.cli import CliError
from agent.config import Config
from agent.ops import doctor


def register(sub: Any) -> None:
    p = sub.add_parser("dhcp", help="HouseRules' optional DHCP server")
    what = p.add_subparsers(dest="dhcp_command", metavar="COMMAND", required=True)
    check = what.add_parser(
        "check", help="before switching [dhcp] on: does another DHCP server answer here?"
    )
    check.set_defaults(func=cmd_check)


def cmd_check(cfg: Config, args: argparse.Namespace) -> int:
    """0: no other DHCP server answered; 1: one did (with the steps to switch it off)."""
    where = cfg.dhcp.interface
    try:
        found = doctor.dhcp_servers(where)
    except OSError as exc:
        raise CliError(f"could not look for DHCP servers on {where}: {exc}") from None
    if found:
        servers = " and ".join(sorted({o.server for o in found}))
        print(f"Another DHCP server ({servers}) answers on {where}.")
        print("Switch it off before HouseRules hands out addresses:")
        print(_steps(cfg))
        return 1
    print(
        f"No other DHCP server answered on {where}. HouseRules can hand out addresses: in "
        f"{cfg.source}, under [dhcp], set enabled = true with the range and router, then "
        "restart HouseRules (sudo systemctl restart houserules)."
    )
    return 0


def _steps(cfg: Config) -> str:
    """The router steps, one to a line."""
    text = doctor.TURN_ROUTER_DHCP_OFF.format(source=cfg.source)
    lines, current = [], ""
    for word in text.split(" "):
        if word[:-1].isdigit() and word.endswith(".") and current:
            lines.append(current.strip())
            current = ""
        current += word + " "
    lines.append(current.strip())
    return "\n".join(f"  {line}" for line in lines)
