"""How the DNS process is started: a fresh interpreter with a lean environment.

glibc gives each thread that allocates its own malloc arena and keeps what it freed there. The
DNS process has a handful of threads (the query-log sender, its status reader, the ticker), and
under the benchmark's blocked load with 1M listed names their arenas held some 8 MB: the DNS
process measured 62 MB RSS with glibc's default, 62 MB with two arenas and 54 MB with one. They
take turns holding the GIL anyway, so sharing one arena costs no measurable speed (7.0-7.6 us of
CPU a query either way). The jobs and log-writer processes it starts inherit the setting. A
value already set (say by a systemd unit) is kept.
"""

from __future__ import annotations

import os
import sys

MALLOC_ARENAS = "1"


def dns_process_command(config: str | None, verbose: bool) -> list[str]:
    command = [sys.executable, "-m", "agent.ops.runner"]
    if config:
        command += ["--config", config]
    if verbose:
        command.append("--verbose")
    return command


def dns_process_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    return env


def become_dns_process(config: str | None, verbose: bool) -> None:
    """Replace this process with the DNS process (never returns)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, dns_process_command(config, verbose), dns_process_env())
