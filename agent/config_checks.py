"""The checks a parsed config must pass before anything starts, shared by `check-config` and
every process that loads the config (`agent.config.parse` calls `validate`), so a file that
passes the check is one that runs.

`validate` raises `ConfigError` (file, key, what is wrong) for a value that `run` would trip on
or that switches a protection off; `warnings` lists values that are legal but risky, which
`check-config` prints and the DNS process logs at start.

Limits, precisely:
- whole numbers are at most 2^31-1 (a DNS TTL is 31 bits; nothing else needs more), and each
  key in `RANGES` within its range; durations are finite numbers (TOML allows inf and nan);
- `rules.timezone` is a zone the system's time zone database knows;
- `dns.listen` and `dashboard.listen` are addresses of this machine (or wildcards), each
  DNS address once;
- no upstream (`servers` or `children`) is the box itself: one equal to a `dns.listen`
  address, or (for a wildcard listen address such as 0.0.0.0) any address of this machine on a
  listened port;
- `dashboard.secret_key_file`, when it exists already, is a regular file (not a link) that only
  its owner may read or write (no group or other permission bits), readable by this user, and
  holds one key: a single line of 32 to 512 visible characters, as HouseRules writes it;
- `store.url` is a SQLite or a PostgreSQL URL (`agent.store.urls.problem`), and for
  PostgreSQL the driver (psycopg 3) is installed;
- `dns.allow_networks` answering the whole internet (a network that holds public addresses and
  is wider than a home's: shorter than /24 for IPv4, /48 for IPv6) makes an open resolver,
  refused unless `dns.open_resolver = true`; a narrower public network is a warning.
"""

from __future__ import annotations

import ipaddress
import math
import os
import socket
import stat
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from agent.config import Config, HostPort, IPNetwork

MAX_INT = 2**31 - 1
DAY = 86_400.0
# key -> (lowest, highest, why); the why finishes "must be from LOW to HIGH ...".
RANGES: dict[str, tuple[float, float, str]] = {
    "dns.cache_size": (1, 10_000_000, "answers kept in memory"),
    "dns.upstream_timeout": (0.01, 60, "seconds"),
    "upstream.dead_for": (0, DAY, "seconds"),
    "store.retention_days": (1, 36_500, "days"),
    "store.history_days": (1, 36_500, "days"),
    "store.log_queue_kb": (1, 4_194_304, "kilobytes of rows waiting in memory"),
    "store.log_spool_mb": (0, 1_000_000, "megabytes of rows kept on disk"),
    "blocklists.refresh_hours": (0.1, 24 * 365, "hours"),
    "blocklists.max_junk_ratio": (0, 1, "a share of a list's lines"),
    "dashboard.session_days": (1, 365, "days"),
    "dashboard.login_failures_allowed": (1, 100, "wrong passwords; 0 would lock every login"),
    "dashboard.lockout_seconds": (1, DAY, "seconds; 0 switches the login throttle off"),
    "dashboard.lockout_max_seconds": (1, 30 * DAY, "seconds"),
    "rules.neighbour_refresh_seconds": (0.1, 3600, "seconds"),
    "rules.household_poll_seconds": (0.05, 3600, "seconds"),
    "email.timeout": (0.1, 600, "seconds"),
    "email.alert_group_seconds": (0, DAY, "seconds"),
    "email.alert_gap_minutes": (0, 10_080, "minutes"),
    "proxy.max_body_kb": (1, 1_048_576, "KB"),
    "proxy.queue_size": (1, 1_000_000, "items"),
}
# Ranges that never reach the internet: private, loopback, link-local, shared (CGNAT) and
# documentation. (`ipaddress`'s is_private says True for 0.0.0.0/0, so it cannot be used.)
NOT_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "100.64.0.0/10",
        "192.0.2.0/24",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
        "2001:db8::/32",
    )
)
WIDEST_PUBLIC = {4: 24, 6: 48}  # shortest prefix of a public network that is still one home's
KEY_SIZE = (32, 512)


def validate(cfg: Config) -> None:
    """Raise `ConfigError` for the first value `run` would trip on."""
    _numbers(cfg)
    _timezone(cfg)
    _ordering(cfg)
    _listen_here(cfg)
    _not_our_own_upstream(cfg)
    _ports_apart(cfg)
    _secret_key_file(cfg)
    _open_resolver(cfg)
    _store(cfg)


def warnings(cfg: Config) -> list[str]:
    """Legal but risky values, and keys this version no longer reads, each naming its key."""
    out = list(cfg.retired)
    for net in cfg.dns.allow_networks:
        if _public(net) and not _too_wide(net):
            out.append(
                f"[dns.allow_networks] {net} holds public addresses: anyone there can use this "
                "box's DNS; fine if it is your home's own range"
            )
    if cfg.dns.open_resolver:
        out.append(
            "[dns.open_resolver] is true: the box answers DNS for anyone allowed by "
            "dns.allow_networks, however far away"
        )
    if cfg.dns.block_ttl > 3600:
        out.append(
            f"[dns.block_ttl] {cfg.dns.block_ttl}s: devices remember a block that long, so "
            "a parent's change (or a pause ending) reaches them late"
        )
    return out


def _fail(cfg: Config, key: str, problem: str) -> Exception:
    from agent.config import ConfigError

    return ConfigError(cfg.source, key, problem)


def _numbers(cfg: Config) -> None:
    for section in (f.name for f in fields(cfg) if f.name not in ("base_dir", "source", "retired")):
        values = getattr(cfg, section)
        for f in fields(values):
            value, key = getattr(values, f.name), f"{section}.{f.name}"
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise _fail(cfg, key, f"must be a finite number, not {value}")
            if isinstance(value, int) and not 0 <= value <= MAX_INT:
                raise _fail(cfg, key, f"must be from 0 to {MAX_INT}, not {value}")
            if key in RANGES:
                low, high, unit = RANGES[key]
                if not low <= value <= high:
                    raise _fail(cfg, key, f"must be from {low:g} to {high:g} ({unit}), not {value}")


def _timezone(cfg: Config) -> None:
    name = cfg.rules.timezone
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _fail(
            cfg, "rules.timezone", f'{name!r} is not a known time zone (like "Europe/London")'
        ) from None


def _ordering(cfg: Config) -> None:
    d = cfg.dashboard
    if d.lockout_max_seconds < d.lockout_seconds:
        raise _fail(cfg, "dashboard.lockout_max_seconds", "must not be less than lockout_seconds")
    if cfg.store.history_days < cfg.store.retention_days:
        raise _fail(cfg, "store.history_days", "must not be less than store.retention_days")


def _is_this_machine(host: str) -> bool:
    address = ipaddress.ip_address(host)
    if address.is_loopback or address.is_unspecified:
        return True
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:  # only an address of this machine can be bound to
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def _listen_here(cfg: Config) -> None:
    where = [(f"dns.listen[{i}]", hp) for i, hp in enumerate(cfg.dns.listen)]
    for key, hp in [*where, ("dashboard.listen", cfg.dashboard.listen)]:
        if not _is_this_machine(hp.host):
            raise _fail(
                cfg, key, f"{hp.host} is not an address of this machine: nothing can listen there"
            )
    seen: set[HostPort] = set()
    for key, hp in where:
        if hp in seen and hp.port:
            raise _fail(cfg, key, f"{hp} is listed twice")
        seen.add(hp)


def _same_place(listen: HostPort, other: HostPort) -> bool:
    if listen.port != other.port:
        return False
    if listen.host == other.host:
        return True
    wildcard = ipaddress.ip_address(listen.host).is_unspecified
    return wildcard and _is_this_machine(other.host)


def _not_our_own_upstream(cfg: Config) -> None:
    upstreams = [("servers", i, s) for i, s in enumerate(cfg.upstream.servers)]
    upstreams += [("children", i, s) for i, s in enumerate(cfg.upstream.children)]
    for which, i, server in upstreams:
        for listen in cfg.dns.listen:
            if _same_place(listen, server):
                raise _fail(
                    cfg,
                    f"upstream.{which}[{i}]",
                    f"{server} is this box's own DNS (dns.listen {listen}): every question "
                    "would go round in a loop; use your router's or an internet resolver",
                )


def _ports_apart(cfg: Config) -> None:
    dash = cfg.dashboard.listen
    for listen in cfg.dns.listen:
        if dash.port and (_same_place(listen, dash) or _same_place(dash, listen)):
            raise _fail(
                cfg, "dashboard.listen", f"{dash} is where the DNS listens (TCP): pick another port"
            )


def _secret_key_file(cfg: Config) -> None:
    key = "dashboard.secret_key_file"
    path = cfg.resolve(cfg.dashboard.secret_key_file)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return  # made, private, on first start
    except OSError as exc:
        raise _fail(cfg, key, f"{path} cannot be checked: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _fail(cfg, key, f"{path} must be a plain file (not a link or a folder)")
    if st.st_mode & 0o077:
        raise _fail(
            cfg,
            key,
            f"{path} may be read by others (mode {stat.S_IMODE(st.st_mode):o}): it must be "
            "private to HouseRules (chmod 600), or deleted so a new key is made",
        )
    try:
        lines = _small_text(path).splitlines()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _fail(cfg, key, f"{path} cannot be read as a key: {exc}") from None
    low, high = KEY_SIZE
    if len(lines) != 1 or not (low <= len(lines[0]) <= high and _visible(lines[0])):
        raise _fail(
            cfg, key, f"{path} is not a key (one line of {low} to {high} visible characters)"
        )


def _small_text(path: Path) -> str:
    with open(path, "rb") as fh:
        data = fh.read(KEY_SIZE[1] + 2)
    if len(data) > KEY_SIZE[1] + 1:
        raise ValueError("too long")
    return data.decode("ascii")


def _visible(text: str) -> bool:
    return all(33 <= ord(c) < 127 for c in text)


def _public(net: IPNetwork) -> bool:
    return not any(
        net.version == other.version and net.subnet_of(other)  # type: ignore[arg-type]
        for other in NOT_PUBLIC
    )


def _too_wide(net: IPNetwork) -> bool:
    return net.prefixlen < WIDEST_PUBLIC[net.version]


def _open_resolver(cfg: Config) -> None:
    if cfg.dns.open_resolver:
        return
    for i, net in enumerate(cfg.dns.allow_networks):
        if _public(net) and _too_wide(net):
            raise _fail(
                cfg,
                f"dns.allow_networks[{i}]",
                f"{net} lets the whole internet use this box's DNS (an open resolver, which "
                "attackers use to flood others); list your home's networks, or set "
                "dns.open_resolver = true if you really mean it",
            )


def _store(cfg: Config) -> None:
    url = cfg.store.url
    if url.lower().startswith("sqlite:"):
        return  # the embedded default: nothing to ask of the store's URL rules
    from agent.store import urls  # standard library only: every process loads the config

    problem = urls.problem(url)
    if problem is not None:
        raise _fail(cfg, "store.url", problem)
    if urls.is_postgres(url):
        try:
            import psycopg  # noqa: F401  (the DNS process reads PostgreSQL with it directly)
        except ImportError:
            raise _fail(
                cfg,
                "store.url",
                "PostgreSQL needs the psycopg package, which is not installed: "
                "pip install 'houserules[postgres]'",
            ) from None
