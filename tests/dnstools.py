"""Real DNS parts for tests: an upstream on loopback, the real server in a thread, a client."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from dnslib import EDNS0, QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

from agent.config import Config
from agent.dns.server import DnsServer, FilterResolver
from agent.rules.policy import PolicyHolder

DEFAULT_ZONE = """
example.com.        300 IN A     93.184.216.34
example.com.        300 IN AAAA  2606:2800:220:1:248:1893:25c8:1946
example.com.        300 IN MX    10 mail.example.com.
example.com.        300 IN TXT   "v=spf1 -all"
www.example.com.    60  IN A     93.184.216.35
short.example.com.  2   IN A     192.0.2.2
_sip._tcp.example.com. 300 IN SRV 10 5 5060 sip.example.com.
34.216.184.93.in-addr.arpa. 300 IN PTR example.com.
svc.example.com.    300 IN HTTPS 1 . alpn=h2
ads.tracker.test.   300 IN A     192.0.2.66
sub.ads.tracker.test. 300 IN A   192.0.2.67
badtracker.test.    300 IN A     192.0.2.68
forcesafesearch.google.com. 300 IN A 216.239.38.120
restrict.youtube.com. 300 IN A  216.239.38.120
"""


class ZoneResolver(BaseResolver):
    """Answers from a small zone; NXDOMAIN with an SOA (negative TTL 60) for other names."""

    def __init__(self, zone: str = DEFAULT_ZONE, big_txt: int = 40) -> None:
        self.records = RR.fromZone(zone)
        self.asked: Counter[tuple[str, str]] = Counter()
        self.servfail = False
        self.edns_seen = 0
        self.big_txt = big_txt
        self.soa = RR.fromZone("test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 60")[0]

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord | None:
        qname, qtype = str(request.q.qname).lower(), QTYPE[request.q.qtype]
        self.asked[(qname, qtype)] += 1
        reply = request.reply()
        if any(r.rtype == QTYPE.OPT for r in request.ar):
            self.edns_seen += 1
            reply.add_ar(EDNS0(udp_len=1232))
        if self.servfail:
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if qname == "big.example.com." and qtype == "TXT":
            for i in range(self.big_txt):
                reply.add_answer(
                    RR(qname, QTYPE.TXT, ttl=300, rdata=TXT(f"record {i:03d} " + "x" * 40))
                )
            return reply
        names = {str(rr.rname).lower() for rr in self.records}
        for rr in self.records:
            if str(rr.rname).lower() == qname and (QTYPE[rr.rtype] == qtype or qtype == "ANY"):
                reply.add_answer(rr)
        if qname not in names:
            reply.header.rcode = RCODE.NXDOMAIN
            reply.add_auth(self.soa)
        elif not reply.rr:
            reply.add_auth(self.soa)
        return reply


class Upstream:
    """A real DNS server on loopback (UDP and TCP on one port)."""

    def __init__(self, resolver: ZoneResolver | None = None, host: str = "127.0.0.1") -> None:
        self.resolver = resolver or ZoneResolver()
        quiet = DNSLogger(logf=lambda _: None)
        for attempt in range(10):  # the UDP port's number may already be taken for TCP
            self.udp = DNSServer(self.resolver, address=host, port=0, logger=quiet)
            self.port = self.udp.server.server_address[1]
            try:
                self.tcp = DNSServer(
                    self.resolver, address=host, port=self.port, tcp=True, logger=quiet
                )
                break
            except OSError:
                self.udp.server.server_close()
                if attempt == 9:
                    raise
        self.host = host

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> Upstream:
        self.udp.start_thread()
        self.tcp.start_thread()
        return self

    def stop(self) -> None:
        self.udp.stop()
        self.tcp.stop()
        self.udp.server.server_close()
        self.tcp.server.server_close()


class BlackHole:
    """A UDP port that receives and never answers: a dead upstream."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()


class ScriptedUpstream:
    """A raw loopback upstream that records every packet it receives (bytes, source) and
    behaves as told: "answer" (A 192.0.2.1, TTL 60, the question echoed as received),
    "silent" (an outage) or "lower" (answers with the question lower-cased, as a few old
    resolvers do). A test can also reply by hand from its address and port with `send`."""

    ADDRESS = "192.0.2.1"

    def __init__(self, mode: str = "answer", host: str = "127.0.0.1") -> None:
        self.mode, self.host = mode, host
        self.received: list[tuple[bytes, tuple[str, int]]] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> ScriptedUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sock.sendto(data, addr)

    def queries_for(self, name: str) -> list[tuple[bytes, tuple[str, int]]]:
        """What came in asking for `name` (any letter case)."""
        return [
            (d, a)
            for d, a in list(self.received)
            if str(DNSRecord.parse(d).q.qname).lower() == name
        ]

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            self.received.append((data, addr))
            if self.mode in ("answer", "lower"):
                reply = answer_for(data, self.ADDRESS)
                if self.mode == "lower":
                    name_end = _question_len(reply) - 4
                    reply = reply[:12] + reply[12:name_end].lower() + reply[name_end:]
                self.sock.sendto(reply, addr)


def answer_for(query: bytes, address: str, ttl: int = 60) -> bytes:
    """An A answer to `query` with its ID and question bytes exactly as sent, and the owner
    name written out in full (no compression), as some servers do."""
    qend = _question_len(query)
    flags = 0x8180 | (int.from_bytes(query[2:4], "big") & 0x0110)
    header = query[:2] + struct.pack(">HHHHH", flags, 1, 1, 0, 0)
    record = query[12 : qend - 4] + struct.pack(">HHIH", 1, 1, ttl, 4)
    return header + query[12:qend] + record + socket.inet_aton(address)


def _question_len(packet: bytes) -> int:
    pos = 12
    while packet[pos]:
        pos += 1 + packet[pos]
    return pos + 5


class ServerThread:
    """The real HouseRules DNS server, on its own event loop in a thread."""

    def __init__(self, cfg: Config, holder: PolicyHolder, decide: Callable, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.resolver = FilterResolver(cfg, holder, decide, **kwargs)
        self.server = DnsServer(self.resolver)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> ServerThread:
        self.thread.start()
        self.call(self.server.start())
        return self

    def call(self, coro: Any, timeout: float = 10) -> Any:
        fut: Future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return fut.result(timeout)

    @property
    def port(self) -> int:
        return self.server.addresses[0][1]

    def stop(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def ask(
    port: int,
    name: str,
    qtype: str = "A",
    *,
    tcp: bool = False,
    host: str = "127.0.0.1",
    source: str | None = None,
    edns: bool = False,
    timeout: float = 3.0,
) -> DNSRecord:
    q = DNSRecord.question(name, qtype)
    if edns:
        q.add_ar(EDNS0(udp_len=1232))
    return DNSRecord.parse(
        send_raw(port, q.pack(), tcp=tcp, host=host, source=source, timeout=timeout)
    )


def send_raw(
    port: int,
    packet: bytes,
    *,
    tcp: bool = False,
    host: str = "127.0.0.1",
    source: str | None = None,
    timeout: float = 3.0,
) -> bytes:
    if tcp:
        with socket.create_connection(
            (host, port), timeout=timeout, source_address=(source, 0) if source else None
        ) as s:
            s.sendall(len(packet).to_bytes(2, "big") + packet)
            size = int.from_bytes(_recv_exactly(s, 2), "big")
            return _recv_exactly(s, size)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.sendto(packet, (host, port))
        return s.recvfrom(65535)[0]


def _recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed early")
        buf += chunk
    return buf


IP_PKTINFO = 8  # Linux <netinet/in.h>; the socket module does not name it


def forged_sources(count: int, first: str = "127.16.0.1") -> list[str]:
    """`count` distinct loopback addresses from `first` up: stand-ins for forged sources."""
    import ipaddress

    start = int(ipaddress.IPv4Address(first))
    return [str(ipaddress.IPv4Address(start + i)) for i in range(count)]


class ForgedSender:
    """Sends UDP from any 127.x.y.z without binding to it: one socket, the source address
    chosen per packet (IP_PKTINFO), as a device forging source addresses would. Replies go
    to the forged addresses and are not read."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.to = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sent = 0

    def send(self, packet: bytes, source: str) -> None:
        info = struct.pack("=I4s4s", 0, socket.inet_aton(source), bytes(4))
        try:
            self.sock.sendmsg([packet], [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, self.to)
            self.sent += 1
        except BlockingIOError:
            pass

    def close(self) -> None:
        self.sock.close()


def free_dns_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` for both UDP and TCP, for a DNS process that must be told its port
    before it starts (port 0 would give it one, but the test could not name it)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
        return port
    raise AssertionError("no port free for both UDP and TCP")


def ask_tls(
    port: int, name: str, cafile: str, server_name: str, qtype: str = "A", host: str = "127.0.0.1"
) -> DNSRecord:
    """One question over DNS over TLS, trusting only `cafile`, asking for `server_name`."""
    import ssl

    ctx = ssl.create_default_context(cafile=cafile)
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        ctx.wrap_socket(raw, server_hostname=server_name) as s,
    ):
        query = DNSRecord.question(name, qtype).pack()
        s.sendall(struct.pack(">H", len(query)) + query)
        size = struct.unpack(">H", _recv_exactly(s, 2))[0]
        return DNSRecord.parse(_recv_exactly(s, size))
