"""The installed `houserules` command: `agent.cli` with the commands that serve the dashboard."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from agent import cli

COMMAND_MODULES = ("houserules.dashboard",)


def build_parser():  # noqa: ANN201 - an argparse.ArgumentParser
    return cli.build_parser(COMMAND_MODULES)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, COMMAND_MODULES)


if __name__ == "__main__":
    sys.exit(main())
