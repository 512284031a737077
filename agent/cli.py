"""The `houserules` command line: `houserules [--config FILE] COMMAND ...`.

Each area registers its commands from a module in `agent/commands/`; the composition root
(`houserules.cli`, the installed `houserules` command) adds the ones that need the dashboard.
A handler takes the loaded config and the parsed arguments and returns an exit code; it raises
`CliError` for a mistake the user can fix, which prints as one line and exits 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from importlib import metadata

from agent import config as config_mod
from agent import logsafe

COMMAND_MODULES = (
    "core",
    "household",
    "household_explain",
    "insights",
    "prompts",
    "maintenance",
    "carers",
    "proxy",
    "budgets",
    "dhcp",
    "store",
)


class CliError(Exception):
    """A mistake in what the user asked for; printed as one line."""


def _version() -> str:
    try:
        return metadata.version("houserules")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser(modules: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser for this package's commands and the modules (full names) in `modules`."""
    parser = argparse.ArgumentParser(
        prog="houserules",
        description="HouseRules: a home parental-control box. Everything stays on the box.",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: ./config.toml, then /etc/houserules/config.toml)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--version", action="version", version=f"houserules {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in (*(f"agent.commands.{m}" for m in COMMAND_MODULES), *modules):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, modules: Sequence[str] = ()) -> int:
    _run_fast(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(modules)
    args = parser.parse_args(argv)
    logsafe.install()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = config_mod.load(config_mod.find_config(args.config))
        return int(args.func(cfg, args) or 0)
    except config_mod.ConfigError as exc:
        print(f"houserules: bad config: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"houserules: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _run_fast(argv: list[str]) -> None:
    """`houserules [--config FILE] [-v] run` becomes the DNS process straight away, before the
    other commands' modules (the dashboard, the ORM...) are imported: a quicker start, and
    nothing of theirs in the process that answers DNS."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("-v", "--verbose", action="store_true")
    pre.add_argument("command", nargs="?")
    known, rest = pre.parse_known_args(argv)
    if known.command != "run" or rest:
        return
    from agent.ops.lean import become_dns_process

    print("HouseRules starting", file=sys.stderr)
    become_dns_process(known.config, known.verbose)


if __name__ == "__main__":
    sys.exit(main())
