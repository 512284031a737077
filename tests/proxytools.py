"""Shared by the proxy tests: a household, a real Policy, flows built with mitmproxy's own test
helpers, and a runtime for the addon with fakes for the writers (no threads, no database)."""

from __future__ import annotations

import contextlib
import json
import ssl
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mitmproxy import http, tls
from mitmproxy.proxy import context
from mitmproxy.proxy.layers.tls import parse_client_hello
from mitmproxy.test import taddons, tflow

from agent.config import Config, ProxyConfig
from agent.lists.index import IndexBuilder
from agent.proxy.concerns import load_concerns
from agent.proxy.paths import load_path_rules
from agent.proxy.runtime import Runtime
from agent.proxy.searches import engines_from
from agent.rules.catalog import load_catalog
from agent.rules.household import Child, Device, Household, RuleEntry
from agent.rules.policy import Policy
from agent.rules.safesearch import load_safesearch

import certtools

TZ = ZoneInfo("Europe/London")
NOON = datetime(2026, 11, 23, 12, 0, tzinfo=TZ)  # a Monday
SAM_TABLET = "192.168.1.10"  # Sam (11; YouTube and Discord allowed), marked "inspect"
SAM_PHONE = "192.168.1.11"  # Sam's, not marked "inspect"
PARENT = "192.168.1.2"  # an adult's laptop, marked "inspect"
STRANGER = "192.168.1.99"  # not in the household
CATALOG = load_catalog()
SAFESEARCH = load_safesearch()

SAM = Child(1, "Sam", date(2015, 6, 1))
HOME = Household(
    children=(SAM,),
    devices=(
        Device(1, None, SAM_TABLET, "Sam's tablet", "child", 1, inspect=True),
        Device(2, None, SAM_PHONE, "Sam's phone", "child", 1),
        Device(3, None, PARENT, "Laptop", "adult", inspect=True),
    ),
    rules=(
        RuleEntry(1, "block", "domain", "blocked.test", 1),
        RuleEntry(1, "allow", "app", "youtube", 2),  # 13+ by its terms; a parent allowed it
        RuleEntry(1, "allow", "app", "discord", 3),
    ),
)


def build_policy(household: Household | None = HOME) -> Policy:
    builder = IndexBuilder()
    for domain, source, category, app_id in CATALOG.index_entries():
        builder.add(domain, source, category, app_id)
    builder.add("casino.test", "gambling", "gambling")
    return Policy(builder.build(), household, CATALOG, SAFESEARCH, {}, Config().rules)


POLICY = build_policy()


class FakeKeeper:
    def __init__(self, policy: Policy = POLICY) -> None:
        self.current = policy


@dataclass
class FakeRecorder:
    events: list[Any] = field(default_factory=list)
    sightings: list[Any] = field(default_factory=list)

    def event(self, item: Any) -> bool:
        self.events.append(item)
        return True

    def sighting(self, item: Any) -> bool:
        self.sightings.append(item)
        return True


@dataclass
class Parts:
    runtime: Runtime
    recorder: FakeRecorder
    rows: list[tuple]


def make_runtime(policy: Policy = POLICY, **proxy: Any) -> Parts:
    cfg = Config(proxy=ProxyConfig(**({"block_paths": ("youtube-shorts",)} | proxy)))
    recorder, rows = FakeRecorder(), []
    runtime = Runtime(
        cfg=cfg,
        catalog=CATALOG,
        keeper=FakeKeeper(policy),
        recorder=recorder,
        submit=lambda row: rows.append(tuple(row)) or True,
        paths=load_path_rules().enabled(cfg.proxy.block_paths),
        concerns=load_concerns(),
        engines=engines_from(SAFESEARCH),
        tz=TZ,
    )
    return Parts(runtime, recorder, rows)


def client(ip: str = SAM_TABLET, local: str = "192.168.1.2"):
    conn = tflow.tclient_conn()
    conn.peername = (ip, 50000)
    conn.sockname = (local, 8081)
    return conn


def flow(
    url: str,
    ip: str = SAM_TABLET,
    *,
    method: str = "GET",
    response: bytes | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> http.HTTPFlow:
    """A flow from `ip` for `url`, with a JSON response if `response` is given."""
    resp: http.Response | bool = False
    if response is not None:
        resp = http.Response.make(status, response, {"content-type": "application/json"})
    req = http.Request.make(method, url, b"", headers or {})
    return tflow.tflow(client_conn=client(ip), req=req, resp=resp)


def json_body(data: Any) -> bytes:
    return json.dumps(data).encode()


def client_hello(sni: str | None, ip: str = SAM_TABLET) -> tls.ClientHelloData:
    """A real ClientHello (made by Python's ssl) from `ip`, as mitmproxy parses it."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with contextlib.suppress(ssl.SSLWantReadError):  # it waits for the server: enough
        conn.do_handshake()
    parsed = parse_client_hello(outgoing.read())
    assert parsed is not None
    c = client(ip)
    c.sni = sni
    return tls.ClientHelloData(context.Context(c, taddons.context().options), parsed)


ROOT = Path(__file__).resolve().parent.parent


# -- end to end: local origin servers, plain and TLS -----------------------------------------


def self_signed(directory: Path, names: list[str]) -> tuple[Path, Path]:
    """A certificate for `names` (and its key), for a local TLS server the test trusts."""
    return certtools.self_signed(directory, names, stem="origin")


class Origin:
    """The internet, on 127.0.0.1: answers every host; Roblox's friend requests as Roblox
    documents them. `seen` keeps (Host, path) of what reached it."""

    def __init__(self, responses: dict[tuple[str, str], bytes], tls: tuple[Path, Path] | None):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
                host = (self.headers.get("Host") or "").split(":")[0]
                path = self.path.split("?")[0]
                seen.append((host, self.path))
                body = responses.get((host, path)) or f"hello from {host} {self.path}".encode()
                if self.headers.get("YouTube-Restrict"):
                    body += f"\nYouTube-Restrict: {self.headers['YouTube-Restrict']}".encode()
                self.send_response(200)
                kind = "application/json" if (host, path) in responses else "text/plain"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
