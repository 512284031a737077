"""Choosing the compiled fast path: used when built, switched off by HOUSERULES_PURE_PYTHON."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agent.dns import native

PROBE = (
    "from agent.dns import native, server, wire; from agent.lists import index; "
    "print(native.fastpath is None, wire._parse_c is None, server.fastpath is None); "
    "print(native.describe())"
)


def run(**env: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**os.environ, **env}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


def test_switched_off_everything_answers_in_python() -> None:
    flags, said = run(HOUSERULES_PURE_PYTHON="1")
    assert flags == "True True True"
    assert said.startswith("compiled fast path switched off (HOUSERULES_PURE_PYTHON)")


@pytest.mark.skipif(native.fastpath is None, reason="the compiled fast path is not built here")
def test_when_built_every_hot_module_uses_it() -> None:
    flags, said = run(HOUSERULES_PURE_PYTHON="0")
    assert flags == "False False False"
    assert said == "compiled fast path in use"
