"""Typed configuration: one frozen section per concern, defaults in one place.

The file is TOML (`config.example.toml` documents every key). Relative paths in the file are
relative to the folder that holds the file; with no file, to the current folder. Any mistake
raises `ConfigError`, whose message names the file, the key and what is wrong; the limits on
values (ranges, time zone, the dashboard's key file, open resolvers) are in
`agent.config_checks`, and `config_checks.warnings` lists legal but risky values.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from agent import config_checks
from agent.datafiles import shipped_dir
from agent.rules.overlays import PAUSE_CHOICES

DEFAULT_PATHS = (Path("config.toml"), Path("/etc/houserules/config.toml"))
SHIPPED_LISTS = shipped_dir()

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(Exception):
    """A configuration mistake, with the file and key it was found at."""

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: [{key}] {problem}" if key else f"{source}: {problem}")


@dataclass(frozen=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class DnsConfig:
    listen: tuple[HostPort, ...] = (HostPort("127.0.0.1", 5353),)
    tls_listen: tuple[HostPort, ...] = ()  # DNS over TLS (port 853); none by default
    allow_networks: tuple[IPNetwork, ...] = tuple(
        ipaddress.ip_network(n)
        for n in (
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
            "fc00::/7",
            "fe80::/10",
            "::1/128",
        )
    )
    allow_own_prefixes: bool = True  # also allow the global IPv6 prefixes the box has at start
    block_mode: str = "nxdomain"
    block_ttl: int = 10
    cache_size: int = 10_000
    cache_min_ttl: int = 0
    cache_max_ttl: int = 86_400
    negative_max_ttl: int = 3_600
    stale_ttl: int = 30
    stale_max_age: int = 86_400
    upstream_timeout: float = 1.5
    open_resolver: bool = False  # allow_networks may hold the whole internet (refused if not)
    client_rate_limit: int = 1_000  # queries a minute per client address; 0 turns it off
    tcp_connections: int = 200  # open TCP connections in all (fewer if file descriptors are short)
    tcp_per_client: int = 16  # open TCP connections from one address
    # the home's own domains besides home.arpa, lan and local: their answers may carry
    # home-network addresses (anything else that does is refused as DNS rebinding)
    local_domains: tuple[str, ...] = ()
    # the other HouseRules boxes sharing this one's database (a second box): doctor checks
    # that they answer DNS and follow the same household version
    peers: tuple[HostPort, ...] = ()


@dataclass(frozen=True)
class UpstreamConfig:
    servers: tuple[HostPort, ...] = (HostPort("9.9.9.9", 53), HostPort("1.1.1.1", 53))
    dead_for: float = 30.0
    outage_window: float = 30.0
    probe_interval: float = 2.0
    # Resolvers for children's queries (a family filter, agent/dns/family.py); empty: the
    # same as `servers`. config.example.toml sets Cloudflare for Families.
    children: tuple[HostPort, ...] = ()
    # Addresses a family filter answers for a blocked name, beyond the known ones
    # (0.0.0.0, :: and those in agent/dns/family.py)
    children_block_addresses: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoreConfig:
    url: str = "sqlite:///data/houserules.db"
    retention_days: int = 30
    history_days: int = 365
    log_queue_kb: int = 1_024  # query-log rows in the writer's memory, as they came in
    log_spool_mb: int = 50  # then on local disk while the database is away; 0: none


@dataclass(frozen=True)
class BlocklistSource:
    name: str
    category: str
    path: Path | None = None
    url: str | None = None
    format: str | None = None
    shipped: str | None = None  # a list that ships inside the package, by file name

    @property
    def location(self) -> str:
        return self.url or str(self.path)


@dataclass(frozen=True)
class BlocklistsConfig:
    # With no sources in the file: the lists that ship with HouseRules (config.example.toml
    # adds the maintained lists that are downloaded).
    sources: tuple[BlocklistSource, ...] = tuple(
        BlocklistSource(name=name, category=category, path=SHIPPED_LISTS / file, shipped=file)
        for name, category, file in (
            ("bypass", "bypass", "bypass.txt"),
            ("adult-common", "adult", "adult-common.txt"),
            ("gambling-common", "gambling", "gambling-common.txt"),
        )
    )
    refresh_hours: float = 24.0
    compiled_dir: Path = Path("data/index")
    max_junk_ratio: float = 0.5


@dataclass(frozen=True)
class DashboardConfig:
    listen: HostPort = HostPort("127.0.0.1", 8080)
    secret_key_file: Path = Path("data/dashboard-secret")  # made on first run, mode 0600
    session_days: int = 30
    login_failures_allowed: int = 5
    lockout_seconds: float = 60.0  # doubles with each further failure
    lockout_max_seconds: float = 3600.0
    https: str = "auto"  # "auto": HTTPS when listening beyond this box itself; "on"; "off"
    tls_dir: Path = Path("data/tls")  # the box's own certificate authority and certificate
    # names the dashboard answers to besides its listen address and the box's own names and
    # addresses; any other Host header gets 400 (DNS rebinding)
    hostnames: tuple[str, ...] = ()


@dataclass(frozen=True)
class RulesConfig:
    always_block: tuple[str, ...] = ("malware",)
    unassigned: str = "youngest"
    under_18_block: tuple[str, ...] = (
        "adult",
        "gambling",
        "dating",
        "random-video-chat",
        "anonymous",
    )
    timezone: str = "Europe/London"
    neighbour_refresh_seconds: float = 10.0
    household_poll_seconds: float = 1.0


WEEKDAY_NAMES: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


@dataclass(frozen=True)
class EmailConfig:
    """The mail server for carers' weekly digests and alert emails; no host, no email."""

    host: str = ""
    port: int = 587
    security: str = "starttls"  # "starttls" | "ssl" | "none"
    username: str = ""
    password: str = ""
    password_file: Path | None = None
    sender: str = ""
    timeout: float = 30.0
    dashboard_url: str = ""  # "" = built from [dashboard] listen
    digest_day: str = "sunday"  # the default for a new carer
    digest_time: str = "18:00"
    alert_group_seconds: float = 30.0
    alert_gap_minutes: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)


# Hosts the proxy never intercepts (suffix match): their apps pin certificates, and operating
# system updates and push notifications are never worth inspecting.
PINNED_HOSTS: tuple[str, ...] = (
    "push.apple.com",
    "mesu.apple.com",
    "swscan.apple.com",
    "swdist.apple.com",
    "updates.cdn-apple.com",
    "windowsupdate.com",
    "update.microsoft.com",
    "delivery.mp.microsoft.com",
    "android.clients.google.com",
)


@dataclass(frozen=True)
class ProxyConfig:
    """The optional mitmproxy addon (`houserules proxy`, docs/proxy.md)."""

    mode: str = "regular"  # "regular" (explicit proxy on `listen`) | "wireguard"
    listen: HostPort = HostPort("127.0.0.1", 8081)
    wireguard_listen: HostPort = HostPort("0.0.0.0", 51820)
    confdir: Path = Path("data/mitmproxy")  # mitmproxy's CA and WireGuard keys
    pinned_hosts: tuple[str, ...] = PINNED_HOSTS
    block_paths: tuple[str, ...] = ()  # ids from the path rules, e.g. "youtube-shorts"
    path_rules: Path | None = None  # None: the shipped blocklists/paths.toml
    concerns: Path | None = None  # None: the shipped agent/talk/concerns.toml
    kids_url: str = ""  # "" = http://<[dashboard] listen>/kids
    record_searches: bool = True
    max_body_kb: int = 2048
    queue_size: int = 1000


@dataclass(frozen=True)
class DhcpConfig:
    enabled: bool = False  # HouseRules hands out addresses (dnsmasq, DHCP only): router's off
    interface: str = "eth0"
    range_start: str = "192.168.1.100"
    range_end: str = "192.168.1.200"
    netmask: str = "255.255.255.0"
    router: str = "192.168.1.1"
    lease_hours: int = 12
    ipv6_ra: bool = True  # router advertisements naming the box as the IPv6 DNS server
    dnsmasq: str = "dnsmasq"
    state_dir: Path = Path("data/dhcp")  # dnsmasq's config and lease file, written by HouseRules
    lease_poll_seconds: float = 10.0


@dataclass(frozen=True)
class MqttConfig:
    """Home Assistant through MQTT discovery (`agent.ops.homeassistant`); no broker, no MQTT."""

    broker: HostPort | None = None  # "host:port"; None (an empty string in the file) = off
    credentials_file: Path | None = None  # the user name on line 1, the password on line 2
    topic_prefix: str = "houserules"
    discovery_prefix: str = "homeassistant"
    pause_for: str = "morning"  # how long Home Assistant's "internet paused" switch pauses
    publish_seconds: float = 30.0

    @property
    def enabled(self) -> bool:
        return self.broker is not None


@dataclass(frozen=True)
class JobsConfig:
    """The jobs process; with two boxes on one database, which does the household's jobs
    (`agent.ops.leader`)."""

    box_name: str = ""  # how the dashboard and doctor name this box; "" = its host name
    lease_seconds: float = 30.0  # the other box takes the household's jobs over after this
    lease_renew_seconds: float = 10.0  # how often the box doing them says it still is

    @property
    def box(self) -> str:
        """How this box is named to parents: `box_name`, else its host name."""
        return self.box_name or socket.gethostname()


@dataclass(frozen=True)
class Config:
    dns: DnsConfig = field(default_factory=DnsConfig)
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    blocklists: BlocklistsConfig = field(default_factory=BlocklistsConfig)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    rules: RulesConfig = field(default_factory=RulesConfig)
    email: EmailConfig = field(default_factory=EmailConfig)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    dhcp: DhcpConfig = field(default_factory=DhcpConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    base_dir: Path = Path(".")
    source: str = "built-in defaults"
    retired: tuple[str, ...] = ()  # what became of keys this version no longer reads (RETIRED)

    def resolve(self, path: Path | str) -> Path:
        """A path from the config, made absolute against the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else (self.base_dir / p)

    @property
    def database_path(self) -> Path | None:
        """The SQLite file behind `store.url`, or None for another database."""
        prefix = "sqlite:///"
        if not self.store.url.startswith(prefix):
            return None
        return self.resolve(self.store.url[len(prefix) :])

    @property
    def database_url(self) -> str:
        db = self.database_path
        return f"sqlite:///{db}" if db is not None else self.store.url


def find_config(explicit: str | Path | None) -> Path | None:
    """The file to load: the one named, else the first default that exists, else None."""
    if explicit is not None:
        return Path(explicit)
    return next((p for p in DEFAULT_PATHS if p.exists()), None)


def load(path: str | Path | None) -> Config:
    """Load and validate a config file; None means the built-in defaults."""
    if path is None:
        return Config(base_dir=Path.cwd())
    path = Path(path)
    src = str(path)
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(src, "", "file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(src, "", f"not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(src, "", f"cannot be read: {exc.strerror}") from None
    return parse(raw, src, path.resolve().parent)


# Keys earlier versions read and this one does not: a config written for them still loads (a box
# must come back up after an upgrade), and `check-config` and `run` say what became of each.
RETIRED = {
    ("store", "log_queue_size"): "replaced by [store] log_queue_kb (kilobytes of rows, not a "
    "count of rows); the old value is ignored, the default of 1024 applies",
}


def parse(raw: dict[str, Any], source: str, base_dir: Path) -> Config:
    p = _Parser(source)
    retired = []
    for (table, key), what in RETIRED.items():
        section = raw.get(table)
        if isinstance(section, dict) and key in section:
            raw = {**raw, table: {k: v for k, v in section.items() if k != key}}
            retired.append(f"[{table}] {key} is no longer used: {what}")
    sections = {
        "dns", "upstream", "store", "blocklists", "dashboard", "rules", "email", "proxy", "dhcp",
        "mqtt", "jobs",
    }  # fmt: skip
    p.only(raw, "", sections)
    cfg = Config(
        dns=p.dns(raw.get("dns", {})),
        upstream=p.upstream(raw.get("upstream", {})),
        store=p.store(raw.get("store", {})),
        blocklists=p.blocklists(raw.get("blocklists", {})),
        dashboard=p.dashboard(raw.get("dashboard", {})),
        rules=p.rules(raw.get("rules", {})),
        email=p.email(raw.get("email", {})),
        proxy=p.proxy(raw.get("proxy", {})),
        dhcp=p.dhcp(raw.get("dhcp", {})),
        mqtt=p.mqtt(raw.get("mqtt", {})),
        jobs=p.jobs(raw.get("jobs", {})),
        base_dir=base_dir,
        source=source,
        retired=tuple(retired),
    )
    config_checks.validate(cfg)  # what `run` would trip on, the same for check-config
    return cfg


class _Parser:
    """Turns raw TOML tables into sections; every error names the key's dotted path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.source, key, problem)

    def only(self, table: Any, where: str, allowed: set[str]) -> None:
        if not isinstance(table, dict):
            raise self.fail(where, "must be a table")
        for key in table:
            if key not in allowed:
                path = f"{where}.{key}" if where else key
                raise self.fail(path, f"unknown key (known: {', '.join(sorted(allowed))})")

    def section(self, cls: type, table: dict[str, Any], where: str, **conv: Any) -> Any:
        names = {f.name for f in fields(cls)}
        self.only(table, where, names)
        defaults = cls()
        values = {}
        for name in names:
            if name not in table:
                continue
            key = f"{where}.{name}"
            value = table[name]
            convert = conv.get(name)
            if convert is not None:
                values[name] = convert(key, value)
            else:
                values[name] = self.like(key, value, getattr(defaults, name))
        return cls(**values)

    def like(self, key: str, value: Any, default: Any) -> Any:
        """Check a plain value against the type of its default."""
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise self.fail(key, f"must be true or false, not {value!r}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise self.fail(key, f"must be a whole number of 0 or more, not {value!r}")
        elif isinstance(default, float):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise self.fail(key, f"must be a number of 0 or more, not {value!r}")
            value = float(value)
        elif isinstance(default, str):
            if not isinstance(value, str) or not value:
                raise self.fail(key, f"must be a non-empty string, not {value!r}")
        elif isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(key, f"must be a list of strings, not {value!r}")
            value = tuple(value)
        elif isinstance(default, Path):
            if not isinstance(value, str) or not value:
                raise self.fail(key, f"must be a path, not {value!r}")
            value = Path(value)
        return value

    def hostport(self, key: str, value: Any, default_port: int, any_port: bool = False) -> HostPort:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f'must be an address like "127.0.0.1:5353", not {value!r}')
        host, port = value, default_port
        if value.startswith("["):
            host, _, rest = value[1:].partition("]")
            if rest:
                port = self.port(key, rest.lstrip(":"), any_port)
        elif value.count(":") == 1:
            host, port_text = value.split(":")
            port = self.port(key, port_text, any_port)
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise self.fail(key, f"{host!r} is not an IP address") from None
        return HostPort(host, port)

    def port(self, key: str, text: str, any_port: bool = False) -> int:
        """A port number; 0 ("any free port", for tests) only where a server listens."""
        low = 0 if any_port else 1
        if not text.isdigit() or not low <= int(text) < 65536:
            raise self.fail(key, f"port {text!r} must be a number from {low} to 65535")
        return int(text)

    def hostports(self, default_port: int, any_port: bool = False) -> Any:
        def convert(key: str, value: Any) -> tuple[HostPort, ...]:
            if not isinstance(value, list) or not value:
                raise self.fail(key, "must be a non-empty list of addresses")
            return tuple(
                self.hostport(f"{key}[{i}]", v, default_port, any_port) for i, v in enumerate(value)
            )

        return convert

    def maybe_hostports(self, default_port: int) -> Any:
        """Like `hostports`, but an empty list is allowed (it means "none")."""
        some = self.hostports(default_port)

        def convert(key: str, value: Any) -> tuple[HostPort, ...]:
            if value == []:
                return ()
            return some(key, value)

        return convert

    def addresses(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, 'must be a list of addresses like "203.0.113.7"')
        out = []
        for i, v in enumerate(value):
            try:
                out.append(str(ipaddress.ip_address(v)))
            except (ValueError, TypeError):
                raise self.fail(f"{key}[{i}]", f"{v!r} is not an IP address") from None
        return tuple(out)

    def networks(self, key: str, value: Any) -> tuple[IPNetwork, ...]:
        if not isinstance(value, list):
            raise self.fail(key, 'must be a list of networks like "192.168.0.0/16"')
        out = []
        for i, v in enumerate(value):
            try:
                out.append(ipaddress.ip_network(v, strict=False))
            except (ValueError, TypeError):
                raise self.fail(f"{key}[{i}]", f"{v!r} is not a network") from None
        return tuple(out)

    def choice(self, *options: str) -> Any:
        def convert(key: str, value: Any) -> str:
            if value not in options:
                raise self.fail(key, f"must be one of {', '.join(options)}, not {value!r}")
            return value

        return convert

    def dns(self, t: dict[str, Any]) -> DnsConfig:
        cfg = self.section(
            DnsConfig,
            t,
            "dns",
            listen=self.hostports(53, any_port=True),
            tls_listen=lambda k, v: () if v == [] else self.hostports(853, any_port=True)(k, v),
            allow_networks=self.networks,
            block_mode=self.choice("nxdomain", "null"),
            local_domains=self.domains,
            peers=self.maybe_hostports(53),
        )
        if cfg.cache_min_ttl > cfg.cache_max_ttl:
            raise self.fail("dns.cache_min_ttl", "must not be larger than dns.cache_max_ttl")
        if cfg.upstream_timeout <= 0:
            raise self.fail("dns.upstream_timeout", "must be more than 0 seconds")
        for key in ("tcp_connections", "tcp_per_client"):
            if getattr(cfg, key) < 1:
                raise self.fail(f"dns.{key}", "must be 1 or more")
        return cfg

    def upstream(self, t: dict[str, Any]) -> UpstreamConfig:
        cfg = self.section(
            UpstreamConfig,
            t,
            "upstream",
            servers=self.hostports(53),
            children=self.maybe_hostports(53),
            children_block_addresses=self.addresses,
        )
        if cfg.probe_interval <= 0:
            raise self.fail("upstream.probe_interval", "must be more than 0 seconds")
        return cfg

    def store(self, t: dict[str, Any]) -> StoreConfig:
        cfg = self.section(StoreConfig, t, "store")
        if "://" not in cfg.url:
            raise self.fail(
                "store.url",
                f"must be a database URL like sqlite:///data/houserules.db, not {cfg.url!r}",
            )
        return cfg

    def blocklists(self, t: dict[str, Any]) -> BlocklistsConfig:
        return self.section(BlocklistsConfig, t, "blocklists", sources=self.sources)

    def sources(self, key: str, value: Any) -> tuple[BlocklistSource, ...]:
        if not isinstance(value, list):
            raise self.fail(key, "must be a list of [[blocklists.sources]] tables")
        out: list[BlocklistSource] = []
        for i, item in enumerate(value):
            where = f"{key}[{i}]"
            self.only(item, where, {"name", "category", "path", "url", "format", "shipped"})
            for required in ("name", "category"):
                if not isinstance(item.get(required), str) or not item[required]:
                    raise self.fail(f"{where}.{required}", "is required (a non-empty string)")
            if sum(k in item for k in ("path", "url", "shipped")) != 1:
                raise self.fail(
                    where,
                    'needs exactly one of path = "...", url = "https://..." or shipped = "NAME"',
                )
            shipped = item.get("shipped")
            if shipped is not None and not (
                isinstance(shipped, str) and (SHIPPED_LISTS / shipped).is_file()
            ):
                found = ", ".join(sorted(p.name for p in SHIPPED_LISTS.glob("*.txt")))
                raise self.fail(
                    f"{where}.shipped", f"{shipped!r} is not a list HouseRules ships ({found})"
                )
            url = item.get("url")
            if url is not None and not str(url).startswith(("http://", "https://")):
                raise self.fail(f"{where}.url", f"must start with http:// or https://, not {url!r}")
            fmt = item.get("format")
            if fmt is not None and fmt not in ("hosts", "domains", "adblock"):
                raise self.fail(
                    f"{where}.format", f"must be hosts, domains or adblock, not {fmt!r}"
                )
            path = SHIPPED_LISTS / shipped if shipped is not None else item.get("path")
            out.append(
                BlocklistSource(
                    name=item["name"],
                    category=item["category"],
                    path=Path(path) if path is not None else None,
                    url=url,
                    format=fmt,
                    shipped=shipped,
                )
            )
        names = [s.name for s in out]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise self.fail(key, f"source names must be unique; repeated: {', '.join(dupes)}")
        return tuple(out)

    def dashboard(self, t: dict[str, Any]) -> DashboardConfig:
        return self.section(
            DashboardConfig,
            t,
            "dashboard",
            listen=lambda k, v: self.hostport(k, v, 8080, True),
            https=self.choice("auto", "on", "off"),
            hostnames=self.domains,
        )

    def rules(self, t: dict[str, Any]) -> RulesConfig:
        return self.section(RulesConfig, t, "rules", unassigned=self.choice("youngest", "adult"))

    def text(self, key: str, value: Any) -> str:
        """Any string, empty included (an empty one means "not set")."""
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {value!r}")
        return value.strip()

    def email(self, t: dict[str, Any]) -> EmailConfig:
        text = self.text
        cfg = self.section(
            EmailConfig,
            t,
            "email",
            host=text,
            username=text,
            password=self.secret,
            password_file=lambda k, v: Path(v) if self.text(k, v) else None,
            sender=text,
            dashboard_url=text,
            security=self.choice("starttls", "ssl", "none"),
            digest_day=self.choice(*WEEKDAY_NAMES),
            digest_time=self.clock_time,
        )
        if not 1 <= cfg.port <= 65535:
            raise self.fail("email.port", f"must be a number from 1 to 65535, not {cfg.port}")
        if cfg.timeout <= 0:
            raise self.fail("email.timeout", "must be more than 0 seconds")
        if cfg.password and cfg.password_file:
            raise self.fail("email.password_file", "give email.password or this, not both")
        if cfg.username and not (cfg.password or cfg.password_file):
            raise self.fail("email.username", "needs email.password or email.password_file")
        if (cfg.password or cfg.password_file) and not cfg.username:
            raise self.fail("email.username", "is required when a password is given")
        if cfg.host and "@" not in cfg.sender:
            raise self.fail(
                "email.sender",
                'is required when email.host is set, like "HouseRules <box@example.org>"',
            )
        if cfg.dashboard_url and not cfg.dashboard_url.startswith(("http://", "https://")):
            raise self.fail("email.dashboard_url", "must start with http:// or https://")
        return cfg

    def secret(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(key, "must be a string")  # never echo a password back
        return value

    def clock_time(self, key: str, value: Any) -> str:
        hour, sep, minute = str(value).partition(":")
        ok = isinstance(value, str) and sep and hour.isdigit() and minute.isdigit()
        if not ok or not (0 <= int(hour) <= 23 and 0 <= int(minute) <= 59 and len(minute) == 2):
            raise self.fail(key, f'must be a time like "18:00", not {value!r}')
        return f"{int(hour):02d}:{minute}"

    def dhcp(self, t: dict[str, Any]) -> DhcpConfig:
        def ipv4(key: str, value: Any) -> str:
            try:
                return str(ipaddress.IPv4Address(value))
            except (ValueError, TypeError):
                raise self.fail(key, f"{value!r} is not an IPv4 address") from None

        cfg = self.section(
            DhcpConfig,
            t,
            "dhcp",
            range_start=ipv4,
            range_end=ipv4,
            netmask=ipv4,
            router=ipv4,
        )
        try:
            net = ipaddress.IPv4Network(f"{cfg.router}/{cfg.netmask}", strict=False)
        except ValueError:
            raise self.fail("dhcp.netmask", f"{cfg.netmask!r} is not a netmask") from None
        start, end = ipaddress.IPv4Address(cfg.range_start), ipaddress.IPv4Address(cfg.range_end)
        if start > end:
            raise self.fail("dhcp.range_start", "must not come after dhcp.range_end")
        if start not in net or end not in net:
            raise self.fail("dhcp.range_end", f"the range must lie in the router's network {net}")
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,15}", cfg.interface):
            raise self.fail("dhcp.interface", f"{cfg.interface!r} is not a network interface name")
        if cfg.lease_hours < 1:
            raise self.fail("dhcp.lease_hours", "must be at least 1")
        return cfg

    def proxy(self, t: dict[str, Any]) -> ProxyConfig:
        cfg = self.section(
            ProxyConfig,
            t,
            "proxy",
            mode=self.choice("regular", "wireguard"),
            listen=lambda k, v: self.hostport(k, v, 8081, True),
            wireguard_listen=lambda k, v: self.hostport(k, v, 51820, True),
            pinned_hosts=self.domains,
            path_rules=self.optional_path,
            concerns=self.optional_path,
            kids_url=self.text,
        )
        if cfg.kids_url and not cfg.kids_url.startswith(("http://", "https://")):
            raise self.fail("proxy.kids_url", "must start with http:// or https://")
        if cfg.max_body_kb < 1:
            raise self.fail("proxy.max_body_kb", "must be at least 1")
        if cfg.queue_size < 1:
            raise self.fail("proxy.queue_size", "must be at least 1")
        return cfg

    def mqtt(self, t: dict[str, Any]) -> MqttConfig:
        topic = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")

        def prefix(key: str, value: Any) -> str:
            text = self.text(key, value)
            if not topic.fullmatch(text):
                raise self.fail(
                    key, f"must be topic words joined by /, like houserules, not {text!r}"
                )
            return text

        cfg = self.section(
            MqttConfig,
            t,
            "mqtt",
            broker=lambda k, v: self.hostport(k, v, 1883, True) if self.text(k, v) else None,
            credentials_file=self.optional_path,
            topic_prefix=prefix,
            discovery_prefix=prefix,
            pause_for=self.choice(*PAUSE_CHOICES),
        )
        if cfg.publish_seconds < 1:
            raise self.fail("mqtt.publish_seconds", "must be 1 second or more")
        return cfg

    def jobs(self, t: dict[str, Any]) -> JobsConfig:
        cfg = self.section(JobsConfig, t, "jobs", box_name=self.text)
        if cfg.lease_seconds < 1:
            raise self.fail("jobs.lease_seconds", "must be 1 second or more")
        if not 0 < cfg.lease_renew_seconds * 2 <= cfg.lease_seconds:
            raise self.fail(
                "jobs.lease_renew_seconds",
                f"must be more than 0 and at most half of jobs.lease_seconds "
                f"({cfg.lease_seconds:g}), so one late renewal does not hand the jobs over",
            )
        return cfg

    def optional_path(self, key: str, value: Any) -> Path | None:
        """A path, or "" for "the shipped file"."""
        return Path(value) if self.text(key, value) else None

    def domains(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise self.fail(key, 'must be a list of domain names like "push.apple.com"')
        out = []
        for i, v in enumerate(value):
            name = v.strip().lower().rstrip(".") if isinstance(v, str) else ""
            if not name or any(not part or " " in part or "/" in part for part in name.split(".")):
                raise self.fail(f"{key}[{i}]", f"{v!r} is not a domain name")
            out.append(name)
        return tuple(out)
