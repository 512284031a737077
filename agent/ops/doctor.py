"""`houserules doctor`: what goes wrong when a home is set up, each with a fix a parent can do.

Each check is a small function that is handed what it looks at (addresses, the time, disk
usage, the neighbour table, the devices the box has seen) and returns a `Finding`: ok (True),
a problem (False, with the fix), or cannot tell (None, with the reason). `run_checks` gathers
the real facts through `Probes`, which tests replace.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnslib import RCODE, DNSRecord

from agent.config import Config, HostPort
from agent.dns import homenet
from agent.dns import neighbours as neighbour_table
from agent.dns.family import provider_for
from agent.lists import health as index_health
from agent.ops import dhcpprobe, ipv6dns
from agent.rules.household import Device

if TYPE_CHECKING:
    from agent.store.lease import Lease

GUIDE = "/opt/houserules/docs/raspberry-pi.md"
CANARY = "use-application-dns.net"  # HouseRules answers NXDOMAIN for it, whoever asks
MIN_FREE_BYTES = 500 * 1024 * 1024
MIN_FREE_SHARE = 0.05
QUIET_AFTER = timedelta(hours=1)
USED_WITHIN = timedelta(days=1)
TITLES = {
    "config": "Config",
    "database": "Database",
    "index": "Compiled lists",
    "port": "Port 53",
    "dns": "HouseRules DNS",
    "upstreams": "Upstream DNS",
    "family": "Family filter",
    "clock": "Clock",
    "disk": "Disk space",
    "router": "Router",
    "devices": "Devices",
    "lists": "Blocklists",
    "ipv6": "IPv6 DNS",
    "dhcp": "DHCP",
    "jobs": "Emails and insights",
    "peers": "Other box",
}
TURN_ROUTER_DHCP_OFF = (
    "1. Open your router's settings page in a browser (its address and admin password are "
    "usually on a card or sticker on the router) and sign in. "
    "2. Find the home network (LAN) settings and the DHCP server in them. Note the range of "
    "addresses it hands out and the router's own address. "
    "3. Switch the router's DHCP server off and save. "
    "4. At once, in {source} under [dhcp], set enabled = true with that range and router, then: "
    "sudo systemctl restart houserules. "
    "5. Turn Wi-Fi off and on again on each device so it asks the box for an address. "
    "If the router has no way to switch its DHCP off, leave [dhcp] off: two DHCP servers on one "
    "network hand out clashing addresses."
)


@dataclass(frozen=True)
class Finding:
    check: str  # a key of TITLES
    ok: bool | None  # None: cannot tell
    problem: str = ""  # what is wrong, or why it cannot tell
    fix: str = ""
    detail: str = ""  # what was found when all is well


def good(check: str, detail: str) -> Finding:
    return Finding(check, True, detail=detail)


def bad(check: str, problem: str, fix: str) -> Finding:
    return Finding(check, False, problem, fix)


def unknown(check: str, why: str) -> Finding:
    return Finding(check, None, why)


@dataclass(frozen=True)
class Ipv6Facts:
    advertised: Sequence[str]  # IPv6 DNS servers the LAN hands out (as the box learned them)
    own: Sequence[str]  # this box's IPv6 addresses, link-local included
    sources: Sequence[str] = ()


# -- the config and the database ---------------------------------------------------------------


def check_config(cfg: Config) -> Finding:
    where = cfg.source
    if where == "built-in defaults":
        return bad(
            "config",
            "No config file was found, so HouseRules uses its defaults: DNS on 127.0.0.1:5353, "
            "which no other device can use.",
            "Install with sudo deploy/install.sh (it writes /etc/houserules/config.toml).",
        )
    restart = "then: sudo systemctl restart houserules"
    hosts = [ipaddress.ip_address(hp.host) for hp in cfg.dns.listen]
    if all(h.is_loopback for h in hosts):
        return bad(
            "config",
            "HouseRules only listens on this box itself (127.0.0.1), so the phones and tablets "
            "in the home cannot reach it.",
            f'In {where} set listen = ["0.0.0.0:53", "[::]:53"] under [dns], {restart}.',
        )
    if all(hp.port != 53 for hp in cfg.dns.listen):
        port = cfg.dns.listen[0].port
        return bad(
            "config",
            f"Devices always ask for DNS on port 53, but HouseRules listens on port {port}.",
            f'In {where} set listen = ["0.0.0.0:53", "[::]:53"] under [dns], {restart}.',
        )
    for source in cfg.blocklists.sources:
        if source.path is not None and not cfg.resolve(source.path).is_file():
            return bad(
                "config",
                f"The list {source.name!r} points at {cfg.resolve(source.path)}, which is missing.",
                f"Correct its path in {where}, or re-run sudo deploy/install.sh.",
            )
    listen = ", ".join(str(hp) for hp in cfg.dns.listen)
    return good("config", f"{where} loads; DNS on {listen}")


def check_index(cfg: Config) -> Finding:
    """The compiled lists on disk are whole (their checksums match)."""
    folder = cfg.resolve(cfg.blocklists.compiled_dir)
    if not (folder / "meta.json").exists():
        return unknown("index", f"The lists are not compiled yet ({folder}); they are at start.")
    damaged = index_health.damaged_files(folder, cached=False)
    if damaged:
        return bad(
            "index",
            f"The compiled block lists in {folder} are damaged ({', '.join(damaged)}). While "
            "HouseRules runs it rebuilds them within a minute; until then children are blocked "
            "from anything the lists cannot vouch for.",
            "Rebuild them now with: sudo houserules lists update. If this comes back, the "
            "storage card may be failing.",
        )
    return good("index", f"the compiled lists in {folder} are whole")


def check_database(cfg: Config) -> Finding:
    from agent.store.db import StoreError, make_engine
    from agent.store.migrate import current_revision, head_revision

    path = cfg.database_path
    if path is not None and not path.exists():
        return bad(
            "database",
            f"There is no database at {path} yet: HouseRules has not started with this config.",
            "sudo systemctl start houserules (or: sudo houserules migrate)",
        )
    if path is not None and cfg.dns.peers:
        return bad(
            "database",
            f"A second box is listed under [dns] peers, but this box keeps the household in "
            f"its own file ({path}), which the other box cannot share: each follows its own "
            "house rules.",
            "Move the household to PostgreSQL and give both boxes its [store] url: see "
            f'"A second box" in {GUIDE}',
        )
    where = str(path) if path is not None else shown_url(cfg.store.url)
    try:
        engine = make_engine(cfg.database_url)
        try:
            current, head = current_revision(engine), head_revision()
        finally:
            engine.dispose()
    except ImportError:  # create_engine found no driver for postgresql://
        from agent.store.copy import ON_THE_BOX

        return bad(
            "database",
            f"{where} needs the PostgreSQL driver (psycopg), which is not installed.",
            f"{ON_THE_BOX}, then: sudo systemctl restart houserules",
        )
    except StoreError as exc:
        if path is None:
            return bad("database", f"{where} cannot be reached: {exc.cause}", SERVER_FIX)
        return bad(
            "database",
            str(exc),
            "Check the disk (see Disk space) and that the folder belongs to HouseRules: "
            f"sudo chown -R houserules: {path.parent}",
        )
    if current != head:
        return bad(
            "database",
            f"The database {where} is at revision {current or 'none'}; this HouseRules needs "
            f"{head}.",
            "sudo houserules migrate (HouseRules also does it when it starts: "
            "sudo systemctl restart houserules)",
        )
    if path is None:
        return good("database", f"{where} answers and is at revision {head}")
    return good("database", f"{where} is at revision {head}")


SERVER_FIX = (
    "Check that the database server is running (on that machine: sudo systemctl status "
    "postgresql), that it accepts this box (listen_addresses and pg_hba.conf), and the user, "
    f'password and database name in [store] url: see "A second box" in {GUIDE}. Meanwhile '
    "HouseRules keeps answering with the rules it last read."
)


def shown_url(url: str) -> str:
    """A database URL as shown to a person: the password masked, nothing else changed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database in [store] url"


# -- port 53 and the DNS itself -----------------------------------------------------------------


@dataclass(frozen=True)
class Listener:
    """A socket bound to a port on this box, and the process holding it (when visible)."""

    proto: str  # "udp" | "tcp"
    address: str
    port: int
    pid: int | None = None
    program: str | None = None  # its comm, e.g. "systemd-resolve"
    argv: tuple[str, ...] = ()


# The DNS process as `houserules run` leaves it: it execs `python -m agent.ops.lean -m
# agent.ops.runner` (agent/ops/lean.py; before, `python -m agent.ops.runner`, and before the
# packages were split, `python -m agent.runner`): known by its `-m agent.ops.runner`.
OWN_MODULES = frozenset({"agent.ops.runner", "agent.runner"})


def is_houserules(owner: Listener) -> bool:
    """The HouseRules service itself: `.../houserules ... run` (or `python .../houserules`), or
    the DNS process it becomes (`python -m agent.ops.runner`)."""
    argv = owner.argv
    if "run" in argv and any(Path(a).name == "houserules" for a in argv[:2]):
        return True
    return any(a == "-m" and b in OWN_MODULES for a, b in zip(argv, argv[1:], strict=False))


def bound_sockets(text: str, proto: str, port: int) -> list[tuple[str, int]]:
    """(address, inode) of sockets bound to `port` in a /proc/net/{udp,udp6,tcp,tcp6} table;
    TCP only when listening."""
    out = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[1]:
            continue
        address, port_hex = fields[1].rsplit(":", 1)
        if int(port_hex, 16) != port or (proto == "tcp" and fields[3] != "0A"):
            continue
        raw = bytes.fromhex(address)  # 32-bit words in the host's byte order
        words = [raw[i : i + 4] for i in range(0, len(raw), 4)]
        raw = b"".join(w[::-1] if sys.byteorder == "little" else w for w in words)
        out.append((str(ipaddress.ip_address(raw)), int(fields[9])))
    return out


def listeners_on(port: int, proc: Path = Path("/proc")) -> list[Listener]:
    """Every socket bound to `port` on this box, with its owner where /proc shows it (all
    processes as root, only one's own otherwise)."""
    found = []
    for table, proto in (("udp", "udp"), ("udp6", "udp"), ("tcp", "tcp"), ("tcp6", "tcp")):
        try:
            text = (proc / "net" / table).read_text()
        except OSError:
            continue
        found += [(proto, addr, inode) for addr, inode in bound_sockets(text, proto, port)]
    owners = _socket_owners({inode for *_, inode in found}, proc) if found else {}
    return [Listener(proto, addr, port, *owners.get(inode, ())) for proto, addr, inode in found]


def _socket_owners(inodes: set[int], proc: Path) -> dict[int, tuple[int, str, tuple[str, ...]]]:
    owners: dict[int, tuple[int, str, tuple[str, ...]]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                link = os.readlink(fd)
                inode = int(link[8:-1]) if link.startswith("socket:[") else None
                if inode in inodes and inode not in owners:
                    comm = (entry / "comm").read_text().strip()
                    argv = tuple(
                        (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
                    )
                    owners[inode] = (int(entry.name), comm, argv)
        except OSError:  # gone, or not ours to see
            continue
    return owners


# comm (the first 15 characters of a program's name) -> what it is, how to make room.
RESOLVERS = {
    "systemd-resolve": (
        "systemd-resolved's local DNS stub",
        "sudo mkdir -p /etc/systemd/resolved.conf.d && printf '[Resolve]\\nDNSStubListener=no\\n'"
        " | sudo tee /etc/systemd/resolved.conf.d/houserules.conf"
        " && sudo systemctl restart systemd-resolved",
    ),
    "dnsmasq": ("dnsmasq", "sudo systemctl disable --now dnsmasq"),
    "pihole-FTL": ("Pi-hole", "Pi-hole and HouseRules cannot both be the DNS: pihole uninstall"),
    "named": ("BIND", "sudo systemctl disable --now named"),
    "unbound": ("Unbound", "sudo systemctl disable --now unbound"),
    "AdGuardHome": ("AdGuard Home", "sudo systemctl disable --now AdGuardHome"),
}


def _conflicts(hp: HostPort, other: Listener) -> bool:
    wildcard = ("0.0.0.0", "::")
    return hp.host in wildcard or other.address in wildcard or other.address == hp.host


def _owner_words(owner: Listener) -> tuple[str, str]:
    what, fix = RESOLVERS.get(owner.program or "", (None, None))
    pid = f" (process {owner.pid})" if owner.pid else ""
    if what and fix:
        return f"{what}{pid}", fix
    name = owner.program or "another program"
    find = f"sudo systemctl status {owner.pid} names its service; " if owner.pid else ""
    return f"{name}{pid}", f"{find}stop it and keep it off: sudo systemctl disable --now SERVICE"


def try_bind(host: str, port: int) -> int:
    """0 if (host, port) is free for UDP and TCP, else the errno."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(family, kind) as s:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                return exc.errno or errno.EADDRINUSE
    return 0


def check_port(
    listen: Sequence[HostPort],
    *,
    listeners: Callable[[int], list[Listener]] = listeners_on,
    bind: Callable[[str, int], int] = try_bind,
) -> Finding:
    """Can HouseRules have its addresses? Fine if HouseRules itself holds them."""
    ours: list[str] = []
    for hp in listen:
        holders = [o for o in listeners(hp.port) if _conflicts(hp, o)]
        if any(o.pid is None for o in holders):  # only root sees other users' processes
            return unknown(
                "port",
                f"Something holds port {hp.port}; only root can see what: sudo houserules doctor",
            )
        others = [o for o in holders if not is_houserules(o)]
        if others:
            who, fix = _owner_words(others[0])
            where = f"{others[0].address}:{hp.port}"
            return bad("port", f"{who} is already using {where}, which HouseRules needs.", fix)
        if holders:
            ours.append(f"{hp} (process {holders[0].pid})")
            continue
        code = bind(hp.host, hp.port)
        if code == errno.EACCES:
            return unknown(
                "port", f"Port {hp.port} can only be tested as root: sudo houserules doctor"
            )
        if code == errno.EADDRNOTAVAIL:
            return bad(
                "port",
                f"{hp.host} is not an address of this box (did its address change?).",
                'Listen on every address (listen = ["0.0.0.0:53"] under [dns]) and give the box '
                f"a fixed address on the router: see {GUIDE}",
            )
        if code:
            return bad(
                "port",
                f"Something else is using {hp} ({errno.errorcode.get(code, code)}).",
                f"sudo ss -lunp 'sport = :{hp.port}' shows which program; stop it, "
                "then: sudo systemctl restart houserules",
            )
    if ours:
        return good("port", f"HouseRules is answering on {', '.join(ours)}")
    return good("port", "free for HouseRules")


def ask(host: str, port: int, name: str, qtype: str, timeout: float) -> DNSRecord | None:
    """One real DNS query over UDP; None if nothing (or nothing sensible) came back."""
    query = DNSRecord.question(name, qtype)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.connect((host, port))
            s.send(query.pack())
            reply = DNSRecord.parse(s.recv(4096))
    except Exception:  # refused, unreachable, timed out, or not DNS: all mean "no answer"
        return None
    return reply if reply.header.id == query.header.id else None


Ask = Callable[[str, int, str, str, float], DNSRecord | None]


def check_dns(listen: Sequence[HostPort], *, query: Ask = ask, timeout: float = 2.0) -> Finding:
    """Is HouseRules answering where it listens? Its answer for the Firefox canary name is
    NXDOMAIN for everyone, which an ordinary resolver does not give."""
    hp = listen[0]
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(hp.host, hp.host)
    reply = query(host, hp.port, CANARY, "A", timeout)
    if reply is None:
        return bad(
            "dns",
            f"Nothing answers DNS on {hp}: HouseRules is not running.",
            "sudo systemctl restart houserules, then see why it stopped: "
            "sudo journalctl -u houserules -n 30",
        )
    if reply.header.rcode != RCODE.NXDOMAIN:
        return bad(
            "dns",
            f"Something answers DNS on {hp}, but it is not HouseRules.",
            "Check Port 53 above, then: sudo systemctl restart houserules",
        )
    return good("dns", f"HouseRules answers on {hp}")


def check_upstreams(
    servers: Sequence[HostPort], config: str, *, query: Ask = ask, timeout: float = 2.0
) -> Finding:
    """Does every upstream resolver answer a real query (for the root's name servers)?"""
    alive, dead = _answering(servers, query, timeout)
    where = f"under [upstream] servers in {config}"
    if not dead:
        return good("upstreams", f"{', '.join(alive)} answer")
    if not alive:
        return bad(
            "upstreams",
            f"None of the upstream DNS servers answer ({', '.join(dead)}): names HouseRules "
            "has not seen recently will not work.",
            f"Check the box's cable or Wi-Fi (ping -c 3 {servers[0].host}). If the internet "
            f"works but outside DNS is blocked, put your router's address {where}.",
        )
    return bad(
        "upstreams",
        f"{', '.join(dead)} does not answer ({', '.join(alive)} does, so the home still works, "
        "a little slower).",
        f"List only the servers that work {where}, then: sudo systemctl restart houserules",
    )


def check_family(
    servers: Sequence[HostPort], config: str, *, query: Ask = ask, timeout: float = 2.0
) -> Finding:
    """Do the children's resolvers (the family filter, `[upstream] children`) answer? When
    none does, children's lookups go to the adults' resolvers: the house rules and the lists
    still apply, but this second layer does not."""
    if not servers:
        return good("family", "Off: children's lookups go to the same upstream as adults'")
    provider = provider_for(tuple(servers))
    name = provider.name if provider else "the family filter"
    alive, dead = _answering(servers, query, timeout)
    where = f"[upstream] children in {config}"
    if not dead:
        detail = f"Children's lookups go to {name} ({', '.join(alive)}), which answers"
        return good("family", detail)
    if not alive:
        return bad(
            "family",
            f"{name[0].upper()}{name[1:]} does not answer ({', '.join(dead)}): children's "
            "lookups go to the adults' "
            "upstream instead, so the house rules and lists apply but the family filter does not.",
            f"Check that the box reaches the internet (ping -c 3 {servers[0].host}). If your "
            f"network blocks outside DNS, list a family filter it allows under {where}, or [] "
            "to turn it off, then: sudo systemctl restart houserules",
        )
    return bad(
        "family",
        f"{', '.join(dead)} does not answer ({', '.join(alive)} does, so {name} still works).",
        f"List only the servers that work under {where}, then: sudo systemctl restart houserules",
    )


def _answering(
    servers: Sequence[HostPort], query: Ask, timeout: float
) -> tuple[list[str], list[str]]:
    """(the servers that answer a real query, the ones that do not)."""

    def answers(hp: HostPort) -> bool:
        reply = query(hp.host, hp.port, ".", "NS", timeout)
        return reply is not None and reply.header.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN)

    with ThreadPoolExecutor(max_workers=len(servers) or 1) as pool:
        results = list(pool.map(answers, servers))
    dead = [str(hp) for hp, ok in zip(servers, results, strict=True) if not ok]
    alive = [str(hp) for hp, ok in zip(servers, results, strict=True) if ok]
    return alive, dead


# -- the box: clock and disk --------------------------------------------------------------------


def ntp_synced(run: Callable[..., Any] = subprocess.run) -> bool | None:
    """True/False from timedatectl; None where there is no timedatectl (or no systemd)."""
    try:
        done = run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
            capture_output=True,
            text=True,
            timeout=3,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    answer = done.stdout.strip() if done.returncode == 0 else ""
    return {"yes": True, "no": False}.get(answer)


def check_clock(now: datetime, synced: bool | None) -> Finding:
    fix = (
        "Connect the box to the internet and turn on time sync: sudo timedatectl set-ntp true. "
        "A Raspberry Pi has no clock battery: it needs the internet after every power cut."
    )
    if now.year < 2024:
        return bad(
            "clock",
            f"The box's clock says {now:%d %B %Y}, so bedtimes, schedules and pauses are wrong.",
            fix,
        )
    if synced is False:
        return bad(
            "clock",
            f"The clock ({now:%d %B %Y %H:%M} UTC) is not synchronised with the internet yet; "
            "if it is wrong, bedtimes will be too.",
            fix + " Check again in a minute with: timedatectl",
        )
    state = "synchronised" if synced else "synchronisation unknown"
    return good("clock", f"{now:%d %B %Y %H:%M} UTC, {state}")


def check_disk(
    folder: Path, config: str, usage: Callable[[Path], Any] = shutil.disk_usage
) -> Finding:
    where = next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))
    disk = usage(where)
    free_mb, share = disk.free // (1024 * 1024), disk.free / disk.total if disk.total else 0.0
    if disk.free < MIN_FREE_BYTES or share < MIN_FREE_SHARE:
        return bad(
            "disk",
            f"Only {free_mb} MB ({share:.0%}) is free on the disk that holds {where}. When it "
            "is full, HouseRules cannot save changes or history.",
            "Free some space: sudo apt clean && sudo journalctl --vacuum-size=50M; keep less "
            f"history ([store] retention_days in {config}); or use a bigger SD card.",
        )
    return good("disk", f"{free_mb} MB ({share:.0%}) free for {where}")


# -- the network: is the router handing out this box? -------------------------------------------


def _present(neighbours: Mapping[str, str], gateway: str | None) -> dict[str, list[str]]:
    """MAC -> its IPs, for the devices on the network now (the router left out)."""
    router_mac = neighbours.get(gateway or "")
    out: dict[str, list[str]] = {}
    for ip, mac in neighbours.items():
        if mac != router_mac:
            out.setdefault(mac, []).append(ip)
    return out


def _device_for(mac: str, ips: list[str], devices: Sequence[Device]) -> Device | None:
    return next((d for d in devices if d.mac == mac), None) or next(
        (d for d in devices if d.mac is None and d.ip in ips), None
    )


def _used_since(d: Device | None, since: datetime) -> bool:
    return d is not None and d.last_seen is not None and d.last_seen >= since


def check_router(
    neighbours: Mapping[str, str],
    devices: Sequence[Device],
    now: datetime,
    *,
    gateway: str | None = None,
    box_ip: str | None = None,
) -> Finding:
    present = _present(neighbours, gateway)
    if not present:
        return unknown("router", "No other devices are visible on the network right now.")
    since = now - USED_WITHIN
    used = [m for m, ips in present.items() if _used_since(_device_for(m, ips, devices), since)]
    if not used and any(_used_since(d, since) for d in devices):
        return unknown("router", _none_visible(devices, now))
    if not used:
        address = f" ({box_ip})" if box_ip else ""
        return bad(
            "router",
            f"{len(present)} devices are on the network, but none asked HouseRules anything in "
            "the last day: the router is not handing out this box as the DNS server.",
            f"In the router's LAN/DHCP settings set the DNS server to this box{address} and "
            "leave the second DNS server empty (devices use either, so a second one is a way "
            "around the filter). Then turn each device's Wi-Fi off and on. Step by step: "
            f"{GUIDE}",
        )
    return good("router", f"{len(used)} of {len(present)} devices on the network use HouseRules")


def check_devices(
    neighbours: Mapping[str, str],
    devices: Sequence[Device],
    now: datetime,
    *,
    gateway: str | None = None,
) -> Finding:
    """Devices on the network that stopped asking HouseRules (for over an hour) or never did."""
    present = _present(neighbours, gateway)
    known = {m: _device_for(m, ips, devices) for m, ips in present.items()}
    if not any(_used_since(d, now - USED_WITHIN) for d in known.values()):
        return unknown("devices", _none_visible(devices, now))
    quiet = [d for d in known.values() if d is not None and not _used_since(d, now - QUIET_AFTER)]
    never = [m for m, d in known.items() if d is None or d.last_seen is None]
    quiet = [d for d in quiet if d.mac not in never]
    if not quiet and not never:
        return good("devices", "every device on the network asked HouseRules in the last hour")
    parts = []
    if quiet:
        names = ", ".join(f"{d.label} ({_ago(now, d.last_seen)})" for d in quiet[:5])
        parts.append(f"on the network but stopped asking HouseRules: {names}")
    if never:
        parts.append(f"never asked HouseRules: {', '.join(never[:5])}")
    return bad(
        "devices",
        "Devices " + "; ".join(parts) + ".",
        "A device that goes around HouseRules has its own DNS setting: turn off Private DNS "
        "(Android: Settings > Network > Private DNS > Off), iCloud Private Relay, any VPN app, "
        "or a fixed DNS address in its Wi-Fi settings; then turn its Wi-Fi off and on. A TV or "
        "printer can be left alone; a device that is asleep or off can be ignored.",
    )


def _none_visible(devices: Sequence[Device], now: datetime) -> str:
    """What can truly be said when no device on the local network is seen using HouseRules."""
    recent = [d for d in devices if _used_since(d, now - USED_WITHIN)]
    if not recent:
        return "No device uses HouseRules yet (see Router)."
    names = ", ".join(d.label for d in recent[:5])
    return (
        f"{len(recent)} device{'s' if len(recent) != 1 else ''} asked HouseRules in the last day "
        f"({names}), but none of them is in this box's list of devices on the local network, "
        "so doctor cannot tell which devices there go around it."
    )


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    hours = (now - then).total_seconds() / 3600
    return f"last {hours:.0f} hours ago" if hours < 48 else f"last {hours / 24:.0f} days ago"


# -- the lists ----------------------------------------------------------------------------------


def check_lists(cfg: Config) -> Finding:
    """Is every category the house rules promise to block really blocked? A category with no
    names at all fails; one whose downloaded list is missing (only the shipped starter list, or
    only the catalogue's apps) fails too, naming what is still open."""
    from agent.lists.status import statuses
    from agent.rules.catalog import load_catalog

    now = datetime.now(UTC)
    wanted = tuple(dict.fromkeys((*cfg.rules.always_block, *cfg.rules.under_18_block)))
    found = statuses(cfg, load_catalog(), wanted)
    short = [s for s in found if not s.blocked or s.missing]
    if not short:
        return good("lists", "; ".join(s.words(now) for s in found if s.names))
    return bad(
        "lists",
        "Not fully blocked yet: " + "; ".join(s.words(now) for s in short) + ".",
        "The box downloads these lists itself: check that it reaches the internet (Upstream "
        "DNS above), then wait for the next refresh or restart HouseRules "
        "(sudo systemctl restart houserules). A category with no list in the config needs one: "
        "blocklists/README.md names maintained lists for each.",
    )


# -- gathering the facts ------------------------------------------------------------------------

LIVE_STATES = frozenset({"REACHABLE", "DELAY", "PROBE", "PERMANENT"})


def live_neighbours(run: Callable[..., Any] = subprocess.run) -> dict[str, str]:
    """IP -> MAC for neighbours seen recently (not the stale entries the kernel keeps)."""
    try:
        done = run(["ip", "neigh", "show"], capture_output=True, text=True, timeout=3)
    except (OSError, subprocess.SubprocessError):
        return neighbour_table.read_neighbours()
    live = [
        ln for ln in done.stdout.splitlines() if ln.split()[-1:] and ln.split()[-1] in LIVE_STATES
    ]
    return neighbour_table.parse_ip_neigh("\n".join(live))


def default_gateway(route: Path = Path("/proc/net/route")) -> str | None:
    try:
        lines = route.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            return socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
    return None


def box_address(gateway: str | None) -> str | None:
    """This box's address on the way to the router (a UDP connect sends nothing)."""
    if gateway is None:
        return None
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((gateway, 53))
            return s.getsockname()[0]
    except OSError:
        return None


def default_interface(route: Path = Path("/proc/net/route")) -> str | None:
    try:
        lines = route.read_text().splitlines()[1:]
    except OSError:
        return None
    return next((ln.split()[0] for ln in lines if ln.split()[1:2] == ["00000000"]), None)


def ipv6_facts() -> Ipv6Facts:
    try:
        own = [str(i.ip) for _n, i in homenet.parse_if_inet6(homenet.IF_INET6.read_text())]
    except OSError:
        own = []
    advertised, sources = ipv6dns.learned_servers(default_interface())
    return Ipv6Facts(advertised, own, sources)


def check_ipv6(listen: Sequence[HostPort], facts: Ipv6Facts, source: str) -> Finding:
    """Another IPv6 DNS server handed out, or IPv6 on the network with HouseRules on IPv4 only."""
    usable = [a for a in facts.own if not ipaddress.ip_address(a).is_loopback]
    box_v6 = next((a for a in usable if not ipaddress.ip_address(a).is_link_local), None)
    strangers = ipv6dns.others(facts.advertised, facts.own)
    if strangers:
        told = " and ".join(strangers)
        return bad(
            "ipv6",
            f"Devices on this network are told to ask {told} for names over IPv6, not this box. "
            "Phones and tablets prefer IPv6, so they skip the house rules without anyone trying.",
            ipv6dns.advice(box_v6),
        )
    if box_v6 is not None and not ipv6dns.listens_on_ipv6(listen):
        return bad(
            "ipv6",
            f"This network uses IPv6 (this box has {box_v6}), but HouseRules listens on IPv4 "
            "only, so devices that ask over IPv6 cannot reach it.",
            f'In {source} set listen = ["0.0.0.0:53", "[::]:53"] under [dns], '
            "then: sudo systemctl restart houserules.",
        )
    if box_v6 is None and not facts.advertised:
        return good("ipv6", "this network does not hand out IPv6 addresses or DNS servers")
    return good("ipv6", "no other IPv6 DNS server is handed out on this network")


def dhcp_servers(interface: str) -> list[dhcpprobe.Offer]:
    if not dhcpprobe.can_probe():
        raise PermissionError("only root can look for DHCP servers (run: sudo houserules doctor)")
    return dhcpprobe.others(interface)


def check_dhcp(
    cfg: Config, probe: Callable[[str], Sequence[dhcpprobe.Offer]] = dhcp_servers
) -> Finding:
    """Another DHCP server beside HouseRules' own, or none at all; probed on [dhcp] interface."""
    dhcp = cfg.dhcp
    try:
        found = list(probe(dhcp.interface))
    except OSError as exc:
        state = "on" if dhcp.enabled else "off"
        return unknown(
            "dhcp",
            f"could not look for DHCP servers on {dhcp.interface}: {exc} "
            f"(HouseRules' own DHCP is {state})",
        )
    servers = " and ".join(sorted({o.server for o in found}))
    if dhcp.enabled and found:
        return bad(
            "dhcp",
            f"Another DHCP server ({servers}) hands out addresses on this network as well as "
            "HouseRules, so devices can get clashing addresses, or be told to ask another DNS "
            "server.",
            TURN_ROUTER_DHCP_OFF.format(source=cfg.source).replace(
                "set enabled = true with that range and router, then",
                "check the range and router, then",
            ),
        )
    if dhcp.enabled:
        return good("dhcp", f"HouseRules is the only DHCP server on {dhcp.interface}")
    if found:
        return good(
            "dhcp",
            f"the router ({servers}) hands out addresses. If it cannot hand out this box as the "
            "DNS server, HouseRules can do it instead: "
            + TURN_ROUTER_DHCP_OFF.format(source=cfg.source),
        )
    return unknown("dhcp", f"no DHCP server answered on {dhcp.interface}")


def seen_devices(cfg: Config) -> list[Device]:
    from agent.store.db import StoreError, make_engine
    from agent.store.household import list_devices

    if cfg.database_path is not None and not cfg.database_path.exists():
        return []
    try:
        engine = make_engine(cfg.database_url)
        try:
            return list(list_devices(engine))
        finally:
            engine.dispose()
    except (StoreError, Exception):  # the database check reports why
        return []


# -- which box does the household's jobs --------------------------------------------------------


def household_lease(cfg: Config) -> Lease | str | None:
    """The household's jobs lease as the database has it; None if no box ever took it, or why
    it cannot be read."""
    from agent.store import lease
    from agent.store.db import make_engine

    if cfg.database_path is not None and not cfg.database_path.exists():
        return None
    try:
        engine = make_engine(cfg.database_url)
        try:
            return lease.current(engine)
        finally:
            engine.dispose()
    except Exception as exc:  # the database check says why
        return f"the database cannot be read ({exc})"


def check_household_jobs(
    held: Lease | str | None, here: str, proc: Path = Path("/proc")
) -> Finding:
    """Which box's jobs process sends the emails and works out the insights (with two boxes on
    one database, one at a time: `agent.ops.leader`)."""
    if isinstance(held, str):
        return unknown("jobs", f"Cannot tell which box sends the emails: {held}.")
    if held is None:
        return unknown("jobs", "No box has sent emails or worked out insights yet.")
    if not held.live:
        return bad(
            "jobs",
            f"No box is sending the emails or working out insights: {held.box} stopped at "
            f"{held.expires_at:%Y-%m-%d %H:%M} UTC and no other box has taken over.",
            "sudo systemctl restart houserules (on each box, if there are two)",
        )
    pid = held.pid
    if held.box == here and pid is not None and not (proc / str(pid)).exists():
        return bad(
            "jobs",
            f"Another box also calls itself {here}: it sends the emails now, and the dashboard "
            "cannot tell the two apart.",
            "Give each box its own name: box_name under [jobs] in each config file, then "
            "sudo systemctl restart houserules",
        )
    if held.box == here:
        return good("jobs", f"this box ({here}) sends the emails and works out insights")
    return good("jobs", f"the box called {held.box} sends the emails; this box ({here}) stands by")


@dataclass
class Probes:
    """Where the facts come from; tests replace any of them."""

    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    synced: Callable[[], bool | None] = ntp_synced
    usage: Callable[[Path], Any] = shutil.disk_usage
    neighbours: Callable[[], Mapping[str, str]] = live_neighbours
    gateway: Callable[[], str | None] = default_gateway
    devices: Callable[[Config], Sequence[Device]] = seen_devices
    listeners: Callable[[int], list[Listener]] = listeners_on
    bind: Callable[[str, int], int] = try_bind
    query: Ask = ask
    ipv6: Callable[[], Ipv6Facts] = ipv6_facts
    dhcp: Callable[[str], Sequence[dhcpprobe.Offer]] = dhcp_servers
    household_jobs: Callable[[Config], Lease | str | None] = household_lease
    timeout: float = 2.0


def run_checks(cfg: Config, probes: Probes | None = None) -> list[Finding]:
    p = probes or Probes()
    now = p.now()
    data = cfg.database_path.parent if cfg.database_path else cfg.base_dir
    with ThreadPoolExecutor(max_workers=4) as pool:  # the four that wait on the network
        upstreams = pool.submit(
            check_upstreams, cfg.upstream.servers, cfg.source, query=p.query, timeout=p.timeout
        )
        family = pool.submit(
            check_family, cfg.upstream.children, cfg.source, query=p.query, timeout=p.timeout
        )
        dns = pool.submit(check_dns, cfg.dns.listen, query=p.query, timeout=p.timeout)
        pair = pool.submit(two_boxes, cfg, p.query, p.timeout)
        neighbours, gateway, devices = p.neighbours(), p.gateway(), p.devices(cfg)
        return [
            check_config(cfg),
            check_database(cfg),
            check_index(cfg),
            check_port(cfg.dns.listen, listeners=p.listeners, bind=p.bind),
            dns.result(),
            upstreams.result(),
            family.result(),
            check_clock(now, p.synced()),
            check_disk(data, cfg.source, p.usage),
            check_router(neighbours, devices, now, gateway=gateway, box_ip=box_address(gateway)),
            check_devices(neighbours, devices, now, gateway=gateway),
            check_lists(cfg),
            check_ipv6(cfg.dns.listen, p.ipv6(), cfg.source),
            check_dhcp(cfg, p.dhcp),
            check_household_jobs(p.household_jobs(cfg), cfg.jobs.box),
            *pair.result(),
        ]


def two_boxes(cfg: Config, query: Ask, timeout: float) -> list[Finding]:
    """With a second box listed under [dns] peers: that it answers and agrees (agent.ops.peers)."""
    if not cfg.dns.peers:
        return []
    from agent.ops.peers import check_peers

    return check_peers(cfg.dns.listen, cfg.dns.peers, query=query, timeout=timeout)


# -- showing them -------------------------------------------------------------------------------


def as_json(findings: Sequence[Finding]) -> dict[str, Any]:
    problems = sum(f.ok is False for f in findings)
    items = [{"title": TITLES[f.check], **asdict(f)} for f in findings]
    return {"ok": problems == 0, "problems": problems, "findings": items}


def as_text(findings: Sequence[Finding], source: str) -> str:
    lines = [f"HouseRules doctor ({source})", ""]
    for f in findings:
        mark = {True: "ok", False: "PROBLEM", None: "?"}[f.ok]
        text = f.detail if f.ok else f.problem
        lines += _wrapped(f"{mark:<8} {TITLES[f.check]:<15} ", text)
        if f.ok is False and f.fix:
            lines += _wrapped(" " * 25 + "Fix: ", f.fix)
    problems = sum(f.ok is False for f in findings)
    lines += ["", "All good." if not problems else f"{problems} problem(s) found."]
    return "\n".join(lines)


def _wrapped(first: str, text: str) -> list[str]:
    return textwrap.wrap(
        text, 100, initial_indent=first, subsequent_indent=" " * 25, break_on_hyphens=False
    ) or [first.rstrip()]
