"""How the DNS and jobs processes are started: fresh interpreters with a lean environment.

glibc gives each thread that allocates its own malloc arena and keeps what it freed there. The
DNS process has a handful of threads (the query-log sender, its status reader, the ticker), and
under the benchmark's blocked load with 1M listed names their arenas held some 8 MB: the DNS
process measured 62 MB RSS with glibc's default, 62 MB with two arenas and 54 MB with one. They
take turns holding the GIL anyway, so sharing one arena costs no measurable speed (7.0-7.6 us of
CPU a query either way). The jobs and log-writer processes it starts inherit the setting. A
value already set (say by a systemd unit) is kept.

OpenSSL is left out of the DNS process unless it serves DNS over TLS (`[dns] tls_listen`).
asyncio and uvloop import `ssl`, and hashlib OpenSSL's `_hashlib`: with uvloop's own library
they cost the DNS process 6.1 MB of RSS at start and 6.2-6.6 MB under the benchmark's loads
(3.6 MB of it libcrypto's pages), for nothing it does without TLS. The price is asyncio's
own event loop: the same CPU per cached or blocked answer, ~6% more per answer that goes
upstream (uvloop watches the upstream socket and its timer in C).

So `houserules run` execs `python -m agent.ops.lean -m agent.ops.runner ...`, and `boot` reads
the config first: without tls_listen, asyncio is imported with `ssl` absent, hashlib uses
Python's own sha256 (a few small files are fingerprinted at start), the event loop is
asyncio's (uvloop cannot load without ssl) and `ssl` itself is a stand-in that imports the
real module the first time anything uses it, so a path that needs it after all still works,
only heavier. The command line keeps `-m agent.ops.runner` (`houserules doctor` knows the DNS
process by it).

The jobs process the DNS process starts (`python -m agent.ops.lean -m houserules.jobs ...`) is
always started so: SQLAlchemy imports asyncio, which imported `ssl` and mapped libcrypto
(3.8 MB of its RSS under the benchmark's loads) for what the jobs do rarely or never: the
dashboard over HTTPS loads OpenSSL when a parent first opens it, email when it first sends.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.config import Config

MALLOC_ARENAS = "1"
RUNNER = "agent.ops.runner"
JOBS = "houserules.jobs"  # by name: this package never imports the dashboard
OPENSSL = ("ssl", "_ssl", "_hashlib")  # the modules that map libssl / libcrypto
ASYNCIO_TLS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")


def dns_process_command(config: str | None, verbose: bool) -> list[str]:
    command = [sys.executable, "-m", "agent.ops.lean", "-m", RUNNER]
    if config:
        command += ["--config", config]
    if verbose:
        command.append("--verbose")
    return command


def jobs_process_command(config: str | None) -> list[str]:
    command = [sys.executable, "-m", "agent.ops.lean", "-m", JOBS]
    return command + ["--config", config] if config else command


def dns_process_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    return env


def become_dns_process(config: str | None, verbose: bool) -> None:
    """Replace this process with the DNS process (never returns)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, dns_process_command(config, verbose), dns_process_env())


# -- inside the DNS process ----------------------------------------------------------------------


class LateSsl(types.ModuleType):
    """`ssl` until something uses it: then the real module, imported there and then."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # introspection (__file__, __path__...): not a use of TLS
            raise AttributeError(name)
        return getattr(real_ssl(), name)


def real_ssl() -> types.ModuleType:
    for name in OPENSSL:
        if sys.modules.get(name) is None or type(sys.modules[name]) is LateSsl:
            sys.modules.pop(name, None)  # blocked, or the stand-in: import the real one
    ssl = importlib.import_module("ssl")
    give_asyncio(ssl)
    return ssl


def give_asyncio(ssl: types.ModuleType) -> None:
    """asyncio imported without `ssl` set `ssl = None` in the modules that make TLS transports
    (and left out sslproto's retry errors): hand them the real one, so a TLS server or client
    started later (the dashboard over HTTPS in the jobs process) works."""
    for name in ASYNCIO_TLS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ssl", ssl) is None:
            module.ssl = ssl  # type: ignore[attr-defined]
    proto = sys.modules.get("asyncio.sslproto")
    if proto is not None and not hasattr(proto, "SSLAgainErrors"):
        proto.SSLAgainErrors = (ssl.SSLWantReadError, ssl.SSLSyscallError)  # type: ignore[attr-defined]


def hold_openssl_back() -> None:
    """Until `leave_openssl_out` or `let_openssl_in`: importing ssl, _hashlib or uvloop raises
    ImportError (hashlib and hmac then use Python's own hashes)."""
    for name in (*OPENSSL, "uvloop"):
        sys.modules[name] = None  # type: ignore[assignment]


def let_openssl_in() -> None:
    for name in (*OPENSSL, "uvloop"):
        if name in sys.modules and sys.modules[name] is None:
            del sys.modules[name]


def leave_openssl_out() -> None:
    """Import asyncio with no `ssl`, then put the stand-in in its place (after
    `hold_openssl_back`, before anything imports asyncio)."""
    import asyncio  # noqa: F401  (its modules keep `ssl = None`: no TLS transports here)

    sys.modules["ssl"] = LateSsl("ssl")


def read_config(argv: list[str]) -> Config | None:
    """The config `argv` names, read once for both the TLS question and the runner; None if it
    cannot be read (the runner then reads it again and says why, with everything it might
    need loaded)."""
    from agent import config as config_mod

    path = None
    for flag, value in zip(argv, argv[1:], strict=False):
        if flag == "--config":
            path = value
    try:
        return config_mod.load(config_mod.find_config(path))
    except Exception:
        return None


def boot(argv: list[str]) -> int:
    """`python -m agent.ops.lean -m agent.ops.runner|houserules.jobs [its arguments]`."""
    if argv[:1] != ["-m"] or argv[1:2] not in ([RUNNER], [JOBS]):
        print(f"usage: python -m agent.ops.lean -m {RUNNER}|{JOBS} [--config FILE] [-v]",
              file=sys.stderr)  # fmt: skip
        return 2
    args = argv[2:]
    hold_openssl_back()  # reading the config imports hashlib (agent.dotnames: secrets)
    if argv[1] == JOBS:  # its dashboard over HTTPS and its email load OpenSSL when first used
        leave_openssl_out()
        jobs: Any = importlib.import_module(JOBS)
        return int(jobs.main(args))
    cfg = read_config(args)
    if cfg is None or cfg.dns.tls_listen:
        let_openssl_in()
    else:
        leave_openssl_out()
    from agent.ops import runner

    return runner.main(args, cfg)


if __name__ == "__main__":
    sys.exit(boot(sys.argv[1:]))
