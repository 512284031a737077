"""The mitmproxy addon: the house rules at URL level, for the devices a parent marked "inspect".

Run by `houserules proxy`, or by hand: `mitmdump -s agent/proxy/addon.py --set
houserules_config=/etc/houserules/config.toml`. Each hook is a thin adapter: it finds who is
asking (`clients`), asks the one decision point (`agent.rules.decide`) with the request's host,
and acts on the answer. Nothing here touches the database: the policy is kept fresh by a
background thread (`policykeeper`), events and contacts go to a bounded queue (`recorder`),
request rows to the query-log writer process (`activity`).

Hooks:
- client_connected: only clients on the home's networks may connect at all (`gate`); in
  WireGuard mode only devices marked "inspect";
- http_connect: a device not marked "inspect", or a connection to the box itself, gets a short
  page saying why instead of a tunnel;
- tls_clienthello: pinned hosts pass through untouched (their TLS is never opened; nor is it
  when anything is in doubt);
- tls_failed_client: a device that refuses the box's certificate for a host gets that host
  passed through from then on, so an app that pins its certificate keeps working;
- server_connect: the name is looked up through HouseRules' own DNS (`resolver`), so the DNS
  filter applies to the proxy's own connections; a safe-search answer is followed (the safe
  host); anything HouseRules blocks, cannot answer, or that points at the box is not
  connected to;
- request: a blocked host or a switched-off path gets the block page; safe-search switches
  are set; searches are recorded, worrying ones raise an alert; a request row is logged;
- response: known services' responses are read for new contacts (bounded, never altered);
- websocket_start / websocket_message: signalling to a video-chat service keeps a video-chat
  session going.

Whatever goes wrong in a hook that reads or records is counted and logged and the flow carries
on untouched, so the addon never breaks a child's app; whatever goes wrong in a hook that
admits (who may connect, where to) closes the connection: the proxy is never an open tunnel.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from mitmproxy import connection, exceptions, http, tls
from mitmproxy.proxy import server_hooks

from agent import config as config_mod
from agent.insights.sessions import VIDEO_CATEGORIES
from agent.insights.webrtc import call_app
from agent.proxy import activity, blockpage, gate, resolver
from agent.proxy.clients import Asker, asker, client_ip
from agent.proxy.contacts import extractor_for
from agent.proxy.contacts.reader import ContactReader
from agent.proxy.paths import PathRule
from agent.proxy.runtime import Runtime, build
from agent.proxy.safesearch import engine_of, safe_request
from agent.rules.decide import BLOCK, decide, made
from agent.rules.decision import Decision, RuleKind
from agent.rules.household import match_suffix
from agent.rules.policy import Policy

log = logging.getLogger("houserules.proxy")
OPTION = "houserules_config"
QTYPE_A = 1  # decide() takes a DNS type; no rule depends on it
SAME_SEARCH_SECONDS = 600.0  # a search's next pages and reloads are one search
LEARNED_MAX = 10_000
F = TypeVar("F", bound=Callable[..., None])


def guarded(hook: F) -> F:
    """A hook that never raises: whatever fails is counted and logged, the flow carries on."""

    @functools.wraps(hook)
    def run(self: HouseRules, *args: Any) -> None:
        if self.rt is None:
            return
        try:
            hook(self, *args)
        except Exception as exc:
            self.counts[f"{hook.__name__} failed"] += 1
            log.error("%s: %s (the flow carries on untouched)", hook.__name__, exc)

    return run  # type: ignore[return-value]


Resolve = Callable[[tuple[str, int], str], Awaitable[str]]


class HouseRules:
    def __init__(
        self,
        runtime: Runtime | None = None,
        clock: Callable[[], datetime] | None = None,
        resolve: Resolve = resolver.resolve,
    ):
        self.rt = runtime  # given in tests; otherwise built from the config in `configure`
        self._resolve = resolve
        self._given = runtime is not None
        self._running = False
        self._clock = clock
        self.counts: Counter[str] = Counter()
        self._rows = activity.Throttle()
        self._searches = activity.Throttle()
        self._learned: set[tuple[str, str]] = set()  # (client, host) that refused our cert
        self._contacts: ContactReader | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    def load(self, loader: Any) -> None:
        loader.add_option(
            OPTION, str, "", "HouseRules config file (default: ./config.toml, then /etc/houserules)"
        )

    def configure(self, updated: set[str]) -> None:
        if self._given or (self.rt is not None and OPTION not in updated):
            return
        from mitmproxy import ctx

        try:
            cfg = config_mod.load(config_mod.find_config(ctx.options.houserules_config or None))
            runtime = build(cfg)
        except Exception as exc:  # a bad config or data file: mitmproxy reports it and stops
            raise exceptions.OptionsError(f"HouseRules: {exc}") from exc
        old, self.rt = self.rt, runtime
        if self._running:  # the config file was changed while running: swap the parts
            if old is not None:
                old.stop()
            runtime.start()
        log.info("HouseRules proxy using %s", cfg.source)

    def running(self) -> None:
        if self.rt is not None and not self._given and not self._running:
            self._running = True
            self.rt.start()

    def done(self) -> None:
        if self.rt is not None and self._running:
            self._running = False
            self.rt.stop()
        if self.counts:
            log.info("HouseRules proxy: %s", dict(self.counts))

    # -- who may connect, and where to (these fail closed) ---------------------------------------

    def client_connected(self, client: connection.Client) -> None:
        try:
            why = self._unwelcome(client)
        except Exception as exc:
            why = f"HouseRules could not check this client ({exc})"
        if why:
            client.error = why
            self.counts[f"refused: {why}"] += 1

    def _unwelcome(self, client: connection.Client) -> str | None:
        if self.rt is None:
            return "HouseRules is not ready"
        if not gate.admitted(self.rt.cfg, client_ip(client.peername)):
            return "not on the home network"
        if self.rt.cfg.proxy.mode == "wireguard" and self._inspected(client) is None:
            return "device not marked inspect"  # no page to show inside a tunnel
        return None

    def http_connect(self, flow: http.HTTPFlow) -> None:
        try:
            why = self._refusal(flow.client_conn, flow.request.host)
        except Exception as exc:
            log.error("http_connect: %s (refused)", exc)
            why = gate.NOT_INSPECTED
        if why:
            self._refuse(flow, why)

    def _refusal(self, client: connection.Client, host: str) -> str | None:
        """Why this device may not be carried to `host`, or None."""
        if self.rt is None or self._inspected(client) is None:
            return gate.NOT_INSPECTED
        if gate.to_the_box(host, client.sockname[0] if client.sockname else None):
            return gate.TO_THE_BOX
        return None

    def _refuse(self, flow: http.HTTPFlow, why: str) -> None:
        flow.response = http.Response.make(gate.STATUS, gate.refusal_page(why), gate.HEADERS)
        flow.metadata["houserules"] = "refused"
        self.counts["refused"] += 1

    async def server_connect(self, data: server_hooks.ServerConnectionHookData) -> None:
        try:
            why = await self._connect(data)
        except Exception as exc:
            why = f"HouseRules could not check this connection ({exc})"
            log.error("server_connect: %s (not connected)", exc)
        if why:
            data.server.error = why
            self.counts["not connected"] += 1

    async def _connect(self, data: server_hooks.ServerConnectionHookData) -> str | None:
        """Point the connection at the address HouseRules' DNS gives, or say why not."""
        who = self._inspected(data.client) if self.rt is not None else None
        if who is None:
            return gate.NOT_INSPECTED
        if not data.server.address:
            return "no server to connect to"
        host, port = data.server.address[0].lower().rstrip("."), data.server.address[1]
        target = host
        if not who.adult:
            d = self._decide(who, host)
            if engine_of(d) and d.rewrite_to:
                target = d.rewrite_to  # the safe host, as the DNS would answer
        try:
            address = await self._resolve(resolver.server_for(self.rt.cfg), target)
        except resolver.NotResolved as exc:
            return str(exc)
        if gate.to_the_box(address, data.client.sockname[0] if data.client.sockname else None):
            return gate.TO_THE_BOX
        if data.server.sni is None and not resolver.literal(host):
            data.server.sni = target  # TLS to the server still names the site
        data.server.address = (address, port)
        return None

    # -- connections ------------------------------------------------------------------------

    @guarded
    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        data.ignore_connection = True  # when in doubt (should anything below fail): untouched
        who = self._inspected(data.context.client)
        host = (data.client_hello.sni or "").lower().rstrip(".")
        if who is None:
            self.counts["passed through: not inspected"] += 1
        elif host and (match_suffix(host, self.rt.pinned) or (who.ip, host) in self._learned):
            self.counts["passed through: pinned"] += 1
        else:
            data.ignore_connection = False

    @guarded
    def tls_failed_client(self, data: tls.TlsData) -> None:
        ip, host = client_ip(data.context.client.peername), data.context.client.sni
        if ip and host and (ip, host) not in self._learned:
            if len(self._learned) >= LEARNED_MAX:
                self._learned.clear()
            self._learned.add((ip, host))
            log.info(
                "%s did not accept the box's certificate for %s: passing it through from now on "
                "(an app that pins its certificate, or the certificate is not installed yet)",
                ip,
                host,
            )

    # -- requests -------------------------------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None:  # answered already (mitmproxy's own pages)
            return
        host = flow.request.pretty_host.lower().rstrip(".")
        try:
            why = self._refusal(flow.client_conn, host)
        except Exception as exc:
            log.error("request: %s (refused)", exc)
            why = gate.NOT_INSPECTED
        if why:
            return self._refuse(flow, why)
        self.house_rules(flow, host)

    @guarded
    def house_rules(self, flow: http.HTTPFlow, host: str) -> None:
        who = self._inspected(flow.client_conn)
        if who is None:
            return
        ts = self._now().timestamp()
        d = self._decide(who, host)
        if d.blocked:
            return self._block(flow, who, host, d, ts)
        path = urlsplit(flow.request.path).path
        rule = None if who.adult else self.rt.paths.match(host, path)
        if rule is not None:
            return self._block(flow, who, host, self._path_decision(rule, d, who), ts, rule.name)
        safe = safe_request(d)
        for name, value in safe.query.items():
            flow.request.query[name] = value
        flow.request.headers.update(safe.headers)
        if safe:
            self.counts["safe search set"] += 1
        if not who.adult and self.rt.cfg.proxy.record_searches and flow.request.method == "GET":
            self._search(who, host, path, flow, ts)
        self._row(ts, who, host, activity.HTTP, d)

    def _block(
        self, flow: http.HTTPFlow, who: Asker, host: str, d: Decision, ts: float, what: str = ""
    ) -> None:
        app = self.rt.catalog.get(d.app) if d.app else None
        kids = self.rt.kids_url_for(client_ip(flow.client_conn.sockname))
        page = blockpage.block_page(d, host, kids, what or (app.name if app else None))
        flow.response = http.Response.make(blockpage.STATUS, page, blockpage.HEADERS)
        flow.metadata["houserules"] = d.columns[1]  # the rule, as the query log has it
        self.counts["blocked"] += 1
        self._row(ts, who, host, activity.HTTP, d)

    def _path_decision(self, rule: PathRule, allowed: Decision, who: Asker) -> Decision:
        app = self.rt.catalog.get(rule.app)
        whole = app.name if app is not None else rule.app
        reason = f"{rule.name} is switched off on this device; the rest of {whole} works"
        category = app.category if app is not None else allowed.category
        return made(BLOCK, reason, RuleKind.PATH, rule.id, who.child_name, rule.app, category)

    def _search(self, who: Asker, host: str, path: str, flow: http.HTTPFlow, ts: float) -> None:
        search = self.rt.engines.find(host, path, flow.request.query)
        if search is None or not self._searches.due(
            (who.ip, search.engine, search.terms), ts, SAME_SEARCH_SECONDS
        ):
            return
        self.counts["searches"] += 1
        self.rt.submit(activity.search_row(ts, who, host, search))
        found = self.rt.concerns.match(search.terms)
        if found is not None:
            self.counts["worrying searches"] += 1
            when = datetime.fromtimestamp(ts, self.rt.tz)
            self.rt.recorder.event(
                self.rt.concerns.event(found, search, who.child_name, who.key, when)
            )

    # -- responses --------------------------------------------------------------------------

    @guarded
    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or "houserules" in flow.metadata:
            return
        host = flow.request.pretty_host.lower().rstrip(".")
        extractor = extractor_for(host, urlsplit(flow.request.path).path)
        if extractor is None or flow.response.status_code != 200:
            return
        who = self._inspected(flow.client_conn)
        if who is None or who.adult:
            return
        url, now = flow.request.pretty_url, self._now()
        found = self._reader().read(who, extractor, url, flow.response, now)
        if found is not None:
            self.rt.recorder.sighting(found)

    def _reader(self) -> ContactReader:
        if self._contacts is None:
            self._contacts = ContactReader(self.rt.max_body, self.counts)
        return self._contacts

    # -- video chat ---------------------------------------------------------------------------

    @guarded
    def websocket_start(self, flow: http.HTTPFlow) -> None:
        self._signalling(flow)

    @guarded
    def websocket_message(self, flow: http.HTTPFlow) -> None:
        self._signalling(flow)

    def _signalling(self, flow: http.HTTPFlow) -> None:
        who = self._inspected(flow.client_conn)
        if who is None or who.adult:
            return
        host = flow.request.pretty_host.lower().rstrip(".")
        d = self._decide(who, host)
        app = self.rt.catalog.get(d.app) if d.app else None
        video = app is not None and app.category in VIDEO_CATEGORIES
        if d.blocked or not (video or call_app(host)):
            return
        self._row(self._now().timestamp(), who, host, activity.WS, d)

    # -- helpers --------------------------------------------------------------------------------

    def _inspected(self, client: connection.Client) -> Asker | None:
        """Who is asking, if their device is marked "inspect"; None passes them through."""
        ip = client_ip(client.peername)
        if ip is None:
            return None
        who = asker(self._policy(), ip)
        return who if who.inspected else None

    def _policy(self) -> Policy:
        return self.rt.keeper.current

    def _decide(self, who: Asker, host: str) -> Decision:
        return decide(self._policy(), who.ip, host, QTYPE_A, self._now())

    def _now(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(self.rt.tz)

    def _row(self, ts: float, who: Asker, host: str, qtype: str, d: Decision) -> None:
        every = activity.BLOCKED_EVERY if d.blocked else activity.ALLOWED_EVERY
        if self._rows.due((who.ip, host, qtype, d.blocked), ts, every):
            self.rt.submit(activity.request_row(ts, who, host, qtype, d))


addons = [HouseRules()]
