"""The DNS server: UDP and TCP front ends over one short chain of steps.

    client check -> parse -> policy decision -> cache -> upstream -> log

`FilterResolver.answer` runs the chain for one packet. Everything up to the cache is
synchronous and works on raw bytes, so a cached or blocked answer goes out without an await;
only a cache miss or a safe-search rewrite goes to the async slow path. Logging hands a tuple
to the query-log writer, which never blocks.

Before the chain, the front ends apply the per-client rate limit (`agent.dns.floodguard`); DNS
over TCP, with its connection limits and timeouts, is `agent.dns.tcp`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import ssl
import struct
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from dnslib import CNAME, EDNS0, QTYPE, RR, DNSLabel, DNSRecord

from agent.config import Config, IPNetwork
from agent.dns import answers, boxinfo, homenet, wire
from agent.dns.cache import Entry, ResponseCache
from agent.dns.family import FamilyFilter
from agent.dns.floodguard import FloodGuard
from agent.dns.native import fastpath
from agent.dns.tcp import TcpFront, TcpLimits, listen_tcp, remember_server_name, tcp_budget
from agent.dns.upstream import UpstreamFailed, UpstreamPool
from agent.rules import decide as rules
from agent.rules.decide import holds_until
from agent.rules.decision import Action, Decision, RuleKind, RuleRef
from agent.rules.policy import Policy, PolicyHolder

log = logging.getLogger(__name__)

Decide = Callable[[Policy, str, str, int, datetime], Decision]
Classes = Callable[[Policy], tuple[Any, Any] | None]
Submit = Callable[[tuple], bool]
Reply = bytes | None | Coroutine[Any, Any, bytes | None]
REWRITE_TTL = 300
# Answers for names a child's daily budget counts: a device asks again within this, so a budget
# that runs out takes hold within it (plus the log's commit, the 10 s count and the poll).
BUDGET_TTL = 30
# Prepared questions kept (~900 bytes each); cleared whole when full, and when what they were
# prepared under ends (`FilterResolver._turn`): a home asks far fewer distinct questions than
# this in a minute.
MEMO_SIZE = 3_000
# The longest a prepared question is kept, to the end of the clock's minute, even when the
# rules engine says its decision holds longer (`decide.holds_until`): a bound on anything the
# engine's horizon might miss.
MEMO_LIFE = 60
# An emptied memo is not freed by the answer that empties it (2,000 prepared questions took
# 0.3-1.7 ms to free, a stall once a second for every packet queued behind it) but a slice at a
# time after each batch of replies has gone (`FilterResolver.tidy`); one is kept waiting at most.
TIDY_SLICE = 128
# Client addresses whose allow_networks verdict is remembered; cleared whole when full. Every
# table kept per client address is bounded like this, so forged source addresses cannot grow
# the process: devices seen are read from the query log by the jobs process, not kept here.
ALLOWED_SIZE = 4_096
BLOCK, REWRITE = Action.BLOCK, Action.REWRITE
NEVER = float("-inf")
DISCOVERY = RuleKind.RESOLVER_DISCOVERY  # an enum's attribute costs a call on Python 3.11
QTYPE_NAMES = wire.QTYPE_NAMES
PARSE_FIELDS, Query, BLOCK_TAIL = wire.parse_fields, wire.Query, wire.block_tail_of
_ZONE_TRANSFERS = (wire.TYPE_AXFR, wire.TYPE_IXFR)


class FilterResolver:
    def __init__(
        self,
        cfg: Config,
        holder: PolicyHolder,
        decide: Decide,
        submit: Submit | None = None,
        tz: tzinfo | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        own_networks: Iterable[IPNetwork] | None = None,
        classes: Classes | None = None,
    ) -> None:
        """`own_networks`: the box's own IPv6 prefixes (read from the system when None).
        `classes`: what `decide` promises about names no rule names, as
        `agent.rules.decide.name_classes` gives it; that one when `decide` is the rules
        engine's own, else none (every name the memo does not hold is then decided)."""
        self.monotonic, self.wallclock = monotonic, wallclock
        self.cfg = cfg
        self.dns = cfg.dns
        self._block_mode, self._block_ttl = cfg.dns.block_mode, cfg.dns.block_ttl
        self.holder = holder
        self.decide = decide
        self._name_classes = classes or (rules.name_classes if decide is rules.decide else None)
        self.submit = submit or (lambda entry: True)
        self.tz = tz
        self.cache = ResponseCache(
            cfg.dns.cache_size,
            cfg.dns.cache_min_ttl,
            cfg.dns.cache_max_ttl,
            cfg.dns.negative_max_ttl,
            cfg.dns.stale_ttl,
            cfg.dns.stale_max_age,
        )
        self.upstreams = UpstreamPool(
            cfg.upstream.servers,
            cfg.dns.upstream_timeout,
            cfg.upstream.dead_for,
            outage_window=cfg.upstream.outage_window,
            probe_interval=cfg.upstream.probe_interval,
            monotonic=monotonic,
        )
        # children's queries may go to a family filter (agent/dns/family.py); None: they don't
        self.family = FamilyFilter.from_config(cfg.upstream, cfg.dns.upstream_timeout, monotonic)
        self._unassigned = cfg.rules.unassigned
        own = homenet.own_prefixes() if own_networks is None else tuple(own_networks)
        self.allow_networks = cfg.dns.allow_networks + (own if cfg.dns.allow_own_prefixes else ())
        self._allowed: dict[str, bool] = {}
        self._inflight: dict[bytes, asyncio.Future[bytes]] = {}
        self._now_second = -1
        self._now: datetime = datetime.now(tz)
        # Questions as prepared: a blocked one as its `_Blocked` tuple, any other as a
        # `_Prepared`. Every entry is of one policy and one stretch of time over which its
        # decision holds (`_turn`); emptied when either ends, and when full.
        self._memo: dict[tuple[str, bytes], _Prepared | _Blocked] = {}
        self._memo_second = -1
        self._memo_policy: Policy | None = None
        # wall clock: the memo holds from this second (a clock set back empties it) until the
        # first second from `_memo_until`
        self._memo_from, self._memo_until = 0, NEVER
        self._memo_family = False  # whether every family resolver was down when it began
        self._retired: list[dict] = []  # emptied memos, freed a slice at a time by `tidy`
        # For the memo's policy, what the compiled front end needs to block a name the memo
        # does not hold by name, from a block kept for its class (`_keep_class`):
        # (special, index, the box's own name), or None
        self.classes: tuple[Any, Any, bytes] | None = None
        # seconds until the next pause or overlay ends, for one household and one second
        self._left: tuple[object, datetime | None, int | None] = (None, None, None)
        self.counters = {"refused": 0, "malformed": 0, "servfail": 0}
        self.answers = answers.AnswerCheck(
            decide, cfg.dns.block_mode, cfg.dns.block_ttl, cfg.dns.local_domains
        )
        # What /metrics reports (agent.dns.stats reads them every few seconds): plain ints and
        # one dict, bumped where the answer is made, so counting costs an addition a query.
        self.blocked: defaultdict[str, int] = defaultdict(int)  # by the rule kind that blocked
        self.from_cache = 0  # answered from the cache
        self.from_upstream = 0  # answered from upstream (or a query already on its way there)
        self.from_stale = 0  # answered with a stale copy while no upstream answered
        self._warned = float("-inf")
        # which shared database the household comes from (the runner sets it; agent/dns/boxinfo)
        self.database_id: Callable[[], str | None] = lambda: None

    # -- the chain -------------------------------------------------------------------------

    def answer(self, data: bytes, client: str, tcp: bool = False, who: str | None = None) -> Reply:
        """The reply to one packet: bytes now, None to stay silent, or a coroutine.

        `who`: the device's own DNS-over-TLS client key (agent/dotnames.py), which then stands
        for the device in the house rules instead of `client`, its address (still checked
        against allow_networks and written to the query log)."""
        ts = self.wallclock()
        policy = self.holder.current
        memo = self.memo_at(ts, policy)
        who = who or client
        memo_key = (who, data[2:]) if who is client else (who + client, data[2:])
        m = memo.get(memo_key)
        if m is None:
            prepared = self._prepare(data, client, ts, policy, who, memo_key[1])
            kind = prepared.__class__
            if kind is not _Blocked and kind is not _Prepared:
                return prepared  # type: ignore[return-value]  # an error reply, or silence
            m = prepared  # type: ignore[assignment]
            if len(memo) >= MEMO_SIZE:
                self._retire(memo)
                memo = self._memo = {}
            memo[memo_key] = m
        if m.__class__ is _Blocked:  # blocked by the rules: the most common answer in a flood
            tail, head, rule = m  # type: ignore[misc]
            self.blocked[rule] += 1
            self.submit((ts, head, None, None, False))
            return data[:2] + tail
        if m.block_tail:  # type: ignore[union-attr]
            self.blocked[m.kind] += 1
            self.submit((ts, m.head, None, None, False))
            return data[:2] + m.block_tail
        mono = self.monotonic()
        if mono >= m.expires:
            # once a second per question at most: when the cached TTLs age by a second
            q = m.q
            entry = self.cache.get(m.key or q.key, mono)
            if entry is None:
                return self._slow(data, m, who, policy, ts, tcp, q)
            served = entry.served if m.cap is None else _capped(entry.served, entry.offsets, m.cap)
            aged = entry.stored + max(0, int(mono - entry.stored)) + 1  # when they age again
            m.expires = aged if aged < entry.expires else entry.expires
            m.tail = _tail(q, served, entry.question_end)
            m.fits = len(m.tail) + 2 <= q.udp_size
            m.aging = _aging(entry, m.cap, len(q.question))
            if m.family and self.family.blocks(entry.served):  # type: ignore[union-attr]
                return self._family_block(data, m, q, ts, None, None)
            if entry.facts is not answers.PLAIN and m.decision.action is not REWRITE:
                held = self._check_cached(m, q, entry, who, policy, ts)
                if held is not None:
                    self.blocked[m.kind] += 1
                    self.submit((ts, m.head, None, None, False))
                    return data[:2] + held
        self.from_cache += 1
        self.submit((ts, m.head, None, None, True))
        reply = data[:2] + m.tail
        return reply if tcp or m.fits else wire.truncated_reply(m.q, reply)

    def memo_at(self, ts: float, policy: Policy) -> dict:
        """The memo at wall-clock `ts` under `policy`, turned first when either moved on: what
        `answer` looks a packet up in, and the UDP front end's compiled fast path a batch of
        packets (`BatchedUdp`)."""
        if int(ts) != self._memo_second or policy is not self._memo_policy:
            self._turn(ts, policy)
        return self._memo

    def _turn(self, ts: float, policy: Policy) -> None:
        """At a new second, or with a new policy: keep the memo while everything its entries
        were prepared under still holds, else start a new one. Its entries hold while the
        policy is the same, the family filter's resolvers are as up or down as they were, and
        the rules engine's horizon (`decide.holds_until`) has not come, to the end of the
        minute at most, and while the clock is not set back. While a pause or an overlay is
        running, a child's answers carry the seconds left to it (`_ttl_cap`), so the memo
        lasts the second."""
        second = int(ts)
        self._memo_second = second
        family = self.family
        down = family is not None and family.pool.all_down()
        if (
            policy is self._memo_policy
            and self._memo_from <= second
            and ts < self._memo_until
            and down is self._memo_family
        ):
            return
        self._retire(self._memo)
        self._memo = {}
        if policy is not self._memo_policy:
            self.classes = self._classes_of(policy)
        self._memo_policy, self._memo_family = policy, down
        self._memo_from, self._memo_until = second, self._horizon(second, policy)

    def _horizon(self, second: int, policy: Policy) -> float:
        """Until when (wall clock) decisions made from `second` on hold, as the memo counts."""
        until = float(second - second % MEMO_LIFE + MEMO_LIFE)
        household = policy.household
        if self.tz is None and household is not None and household.ends:
            return second + 1.0  # naive local time: no moment to compare a pause's end with
        now = self._wall(second)
        if household is not None and household.next_end(now) is not None:
            return second + 1.0
        try:
            holds = holds_until(policy, now).timestamp()
        except (OverflowError, ValueError):  # a date at the end of the calendar
            return second + 1.0
        return holds if holds < until else until

    def _retire(self, memo: dict) -> None:
        """Set an emptied memo aside for `tidy`; one waiting already is freed now (so at most
        one ever waits, whatever the load)."""
        if memo:
            retired = self._retired
            if retired:
                retired.pop().clear()
            retired.append(memo)

    def tidy(self, budget: int | None = TIDY_SLICE) -> bool:
        """Free up to `budget` entries of an emptied memo (None: all of it at once); True
        while some remain. The front ends call it once their replies have gone."""
        retired = self._retired
        if not retired:
            return False
        if budget is None:
            retired.clear()
            return False
        memo = retired[-1]
        pop = memo.popitem
        for _ in range(min(budget, len(memo))):
            pop()
        if not memo:
            retired.pop()
        return bool(retired)

    def _prepare(
        self, data: bytes, client: str, ts: float, policy: Policy, who: str, packet: bytes
    ) -> Reply | _Prepared | _Blocked:
        """Read the packet and ask the rules engine: done once per question and client while the
        memo lasts (`_turn`), then reused from it for identical packets.
        `packet`: `data` after its ID, as the memo's key holds it (a `_Prepared` keeps that
        one copy, not the parsed question)."""
        if not self._allowed.get(client, False) and not self._client_allowed(client):
            self.counters["refused"] += 1
            return wire.error_reply(data, wire.REFUSED)
        try:  # the fields as parsed: a blocked question needs no `Query` made of them
            if PARSE_FIELDS is not None:
                fields = PARSE_FIELDS(data)
            else:
                fields = wire.fields_of(wire.parse_query(data))
        except (ValueError, wire.WireError):
            self.counters["malformed"] += 1
            return wire.error_reply(data, wire.FORMERR)
        _, flags, name, qtype, _, question, key, edns, _, do, _ = fields
        if flags & 0x7800:  # opcode other than QUERY
            return wire.error_reply(data, wire.NOTIMP)
        if qtype in _ZONE_TRANSFERS:
            return wire.error_reply(data, wire.REFUSED)
        if name == boxinfo.NAME:  # the household version, for doctor on the other box
            nets = () if self.dns.open_resolver else self.allow_networks
            return boxinfo.reply(data, Query(*fields), client, policy, nets, self.database_id())
        now = self._now if int(ts) == self._now_second else self._wall(ts)
        decision = self.decide(policy, who, name, qtype, now)
        action = decision.action
        home = policy.household
        if decision.child is None or home is None or not (home.ends or home.budgeted):
            cap = None  # nothing can shorten how long the answer is kept
        else:
            cap = self._ttl_cap(policy, decision, now)
        head = (client, policy.neighbours.get(client), decision.child, name,
                QTYPE_NAMES.get(qtype) or f"TYPE{qtype}")  # fmt: skip
        if action is BLOCK:
            ttl = self._block_ttl if cap is None else min(self._block_ttl, cap)
            kind = decision.rule.kind
            if kind is DISCOVERY:
                tail = answers.nodata_tail(Query(*fields), ttl)
            else:
                tail = BLOCK_TAIL(qtype, flags, edns, do, question, self._block_mode, ttl,
                                  decision.nxdomain)  # fmt: skip
            head += decision.columns
            if self.classes is not None and who is client:
                self._keep_class(client, name, qtype, flags, edns, do, ttl, decision, head)
            return (tail, head, kind._value_)
        own_key = key  # the memo keeps a key only when it is not the question's own
        if action is REWRITE:
            key = key + b"rw:" + (decision.rewrite_to or "").encode()
        family = self.family
        kids = (
            family is not None
            and not family.pool.all_down()  # meanwhile children share the adults' answers
            and family.for_children(policy, who, decision, self._unassigned)
        )
        if kids:
            key += FamilyFilter.suffix  # the cache keeps children's answers apart
        prepared = _Prepared(packet, decision, None if key is own_key else key, b"",
                             head + decision.columns)  # fmt: skip
        prepared.kind = decision.rule.kind
        prepared.cap, prepared.family = cap, kids
        return prepared

    def _classes_of(self, policy: Policy) -> tuple[Any, Any, bytes] | None:
        """`classes` for `policy`: None when the tables are not compiled, or could not be
        had (the front end then leaves every name the memo does not hold to `answer`)."""
        if self._name_classes is None or fastpath is None:
            return None  # no compiled front end reads them
        try:
            tables = self._name_classes(policy)
        except Exception:  # costs speed, never an answer
            log.exception("the compiled front end cannot block by list under this policy")
            return None
        return None if tables is None else (*tables, boxinfo.NAME.encode())

    def _keep_class(
        self,
        client: str,
        name: str,
        qtype: int,
        flags: int,
        edns: bool,
        do: bool,
        ttl: int,
        decision: Decision,
        head: tuple,
    ) -> None:
        """A block made for a name that no rule names and one list claims is the block for
        every name of its class (`decide.name_classes`) asked by this client: kept in the memo
        under the class too, as the compiled front end reads it (`replay_batch`), so the next
        such names are blocked there without a decision each. The memo's bound and life apply."""
        special, index, _ = self.classes  # type: ignore[misc]
        memo = self._memo
        if special.lookup(name) or len(memo) >= MEMO_SIZE:
            return
        hits = index.lookup(name)
        if len(hits) != 1:
            return
        shape = qtype << 3 | (flags >> 6 & 4) | edns << 1 | do
        header, after = wire.block_shape(qtype, flags, edns, do, self._block_mode, ttl,
                                         decision.nxdomain)  # fmt: skip
        kind = decision.rule.kind._value_
        memo[(client, hits[0][1], shape)] = (header, after, head[:3], head[4:], kind)

    def _family_block(
        self,
        data: bytes,
        m: _Prepared,
        q: wire.Query,
        ts: float,
        upstream: str | None,
        latency: float | None,
    ) -> bytes:
        """The family filter blocked this for a child: HouseRules' own block answer, and a log
        row that says so. The memo keeps it while it lasts (a minute at most)."""
        family = self.family
        family.blocked += 1  # type: ignore[union-attr]
        ttl = self._block_ttl if m.cap is None else min(self._block_ttl, m.cap)
        m.block_tail = wire.block_tail(q, self._block_mode, ttl, False)
        decision = family.decision(m.decision)  # type: ignore[union-attr]
        m.head, m.kind = m.head[:5] + decision.columns, decision.rule.kind
        self.blocked[m.kind] += 1
        self.submit((ts, m.head, upstream, latency, False))
        return data[:2] + m.block_tail

    def _ttl_cap(self, policy: Policy, decision: Decision, now: datetime) -> int | None:
        """While a pause or an overlay is running, a child's answers may not be kept by the
        device past its end: a blocked name stays blocked no longer than the pause, an
        unblocked one is asked again when the unblock ends. Names a child's daily budget
        counts are kept for at most `BUDGET_TTL`. None when nothing applies."""
        household = policy.household
        if decision.child is None or household is None:
            return None
        cap = None
        if household.budgeted:
            targets = household.budgeted.get(decision.child)
            if targets is not None and (
                "" in targets or decision.app in targets or decision.category in targets
            ):
                cap = BUDGET_TTL  # a budget running out takes hold within this
        if not household.ends:
            return cap
        known = self._left
        if known[0] is household and known[1] == now:
            left = known[2]  # the same for every question this second
        else:
            end = household.next_end(now)
            left = None if end is None else max(0, int((end - now).total_seconds()))
            self._left = (household, now, left)
        if left is None:
            return cap
        return left if cap is None else min(cap, left)

    def _check_cached(
        self, m: _Prepared, q: wire.Query, entry: Entry, who: str, policy: Policy, ts: float
    ) -> bytes | None:
        """The cache is shared by every device, so whether this one may follow where a cached
        answer leads is asked whenever the entry is loaded for it (once a second at most).
        When held back, the memo answers the block while it lasts (a minute at most)."""
        facts = entry.facts
        if facts is None:  # stored by code that did not read it
            facts = entry.facts = self.answers.facts(entry.served, q.name)
            self.cache.note_facts(m.key or q.key, facts)
            if facts is answers.PLAIN:
                return None
        held = self.answers.hold(q, m.decision, m.head, facts, who, policy, self._wall(ts))
        if held is None:
            return None
        m.block_tail, m.head = held
        m.kind = _kind_of(m.head)
        return m.block_tail

    def _client_allowed(self, client: str) -> bool:
        ok = self._allowed.get(client)
        if ok is None:
            try:
                ip = ipaddress.ip_address(client.split("%")[0])
                ok = any(ip in net for net in self.allow_networks)
            except ValueError:
                ok = False
            if len(self._allowed) >= ALLOWED_SIZE:  # forged sources must not grow it
                self._allowed.clear()
            self._allowed[client] = ok
        return ok

    def _wall(self, ts: float) -> datetime:
        second = int(ts)
        if second != self._now_second:
            self._now_second = second
            self._now = datetime.fromtimestamp(second, self.tz)
        return self._now

    def _log(self, ts: float, m: _Prepared, upstream: str | None, latency_ms: float | None) -> None:
        """A query-log row, as `agent.store.logpipe.flat_row` reads it: the ten columns every
        answer to this question shares are one tuple, made when the question is prepared."""
        self.submit((ts, m.head, upstream, latency_ms, False))

    # -- the slow path: upstream, coalescing, serve-stale, rewrites --------------------------

    async def _slow(
        self,
        data: bytes,
        m: _Prepared,
        who: str,
        policy: Policy,
        ts: float,
        tcp: bool,
        q: wire.Query | None = None,
    ) -> bytes | None:
        """`q`: `m.q`, when the caller has it already."""
        q = m.q if q is None else q
        decision, key = m.decision, m.key or q.key
        started = time.perf_counter()
        upstream: str | None = None
        filtered = False
        try:
            if decision.action is Action.REWRITE and decision.rewrite_to:
                reply, upstream, filtered = await self._rewrite(
                    q, decision.rewrite_to, key, m.family
                )
            else:
                reply, upstream, filtered = await self._ask(
                    key, q.key[:-2], q.upstream_packet(), m.family, q.name
                )
        except UpstreamFailed as exc:
            stale = self.cache.get_stale(key, self.monotonic())
            if stale is None and m.family:  # as the fallback to the adults' resolvers would
                stale = self.cache.get_stale(key[: -len(FamilyFilter.suffix)], self.monotonic())
            if stale is None:
                self.counters["servfail"] += 1
                if started - self._warned >= 1.0:  # an outage says so, not once a query
                    self._warned = started
                    log.warning("no upstream answered for %s: %s", q.name, exc)
                self._log(ts, m, None, None)
                return wire.error_reply(data, wire.SERVFAIL)
            reply, upstream = stale, "stale"
        latency = round((time.perf_counter() - started) * 1000.0, 3)
        if filtered and self.family.blocks(reply):  # type: ignore[union-attr]
            return self._family_block(data, m, q, ts, upstream, latency)
        if decision.action is not Action.REWRITE:
            facts = self.answers.facts(reply, q.name)
            if facts is not answers.PLAIN:
                now = self._wall(ts)
                held = self.answers.hold(q, decision, m.head, facts, who, policy, now)
                if held is not None:
                    self.blocked[_kind_of(held[1])] += 1
                    self.submit((ts, held[1], upstream, latency, False))
                    return data[:2] + held[0]
        if upstream == "stale":
            self.from_stale += 1
        else:
            self.from_upstream += 1
        self._log(ts, m, upstream, latency)
        if m.cap is not None:
            with contextlib.suppress(wire.WireError):
                reply = _capped(reply, wire.inspect_reply(reply).ttl_offsets, m.cap)
        full = data[:2] + _tail(q, reply, wire.HEADER.size + len(q.question))
        return full if tcp or len(full) <= q.udp_size else wire.truncated_reply(q, full)

    async def _ask(
        self, key: bytes, question_key: bytes, packet: bytes, kids: bool, name: str
    ) -> tuple[bytes, str, bool]:
        """(reply, upstream label, whether the family filter gave it). A child's question
        goes to the children's resolvers; if none answers (or they answer SERVFAIL), to the
        adults' ones, under the adults' cache key (it is their answer), with a warning once
        per outage."""
        family = self.family
        if kids and family is not None:
            try:
                reply, label = await self._fetch(key, question_key, packet, family.pool)
            except UpstreamFailed as exc:
                family.fell_back(name, exc)
            else:
                family.answered()
                if reply[3] & 0xF != wire.SERVFAIL:
                    return reply, label, True
                family.fallbacks += 1  # it failed on this name: not a block, and not an outage
            key = key[: -len(FamilyFilter.suffix)]
            entry = self.cache.get(key, self.monotonic())
            if entry is not None:
                return entry.served, "cache", False
        reply, label = await self._fetch(key, question_key, packet, self.upstreams)
        return reply, label, False

    async def _fetch(
        self, key: bytes, question_key: bytes, packet: bytes, pool: UpstreamPool
    ) -> tuple[bytes, str]:
        """One upstream round trip per key at a time; concurrent askers share it."""
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending), "coalesced"
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            reply, label = await pool.query(packet, question_key)
            # read once, kept with the cache entry (the question key starts with the name)
            facts = self.answers.facts(reply, answers.read_name(question_key, 0)[0])
            self.cache.put(key, reply, self.monotonic(), facts)
            fut.set_result(reply)
            return reply, label
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved: nobody else may be waiting
            raise
        finally:
            del self._inflight[key]

    async def _rewrite(
        self, q: wire.Query, target: str, key: bytes, kids: bool
    ) -> tuple[bytes, str, bool]:
        """Safe search: the question's name answered as a CNAME to the provider's safe name,
        followed by that name's own records from upstream (a child's from the family filter)."""
        tq = DNSRecord.question(target, QTYPE.get(q.qtype, "A"))
        tq.header.rd = 1
        target_q = wire.parse_query(bytes(tq.pack()))
        target_key = target_q.key + FamilyFilter.suffix if kids else target_q.key
        entry = self.cache.get(target_key, self.monotonic())
        if entry is not None:
            target_reply, label, filtered = entry.served, "cache", kids
        else:
            target_reply, label, filtered = await self._ask(
                target_key, target_q.key[:-2], target_q.upstream_packet(), kids, target
            )
        reply = _compose_rewrite(q, target, target_reply)
        if filtered or not kids:  # a fallback answer is not kept as the child's
            self.cache.put(key, reply, self.monotonic())
        return reply, label, filtered


# A question the rules block, as the memo keeps it: (the reply after its ID, the query-log
# columns from client to app, the kind of rule that blocked it as plain text: equal to the enum
# as a key in `blocked`, and cheaper to count by). A plain tuple, the cheapest thing Python
# makes, because a flood of different blocked names makes one of these a packet.
_Blocked = tuple


@dataclass(slots=True)
class _Prepared:
    """One question as read and decided, reused for identical packets while the memo lasts.

    Up to MEMO_SIZE of these live at once (twice that while an emptied memo waits for `tidy`),
    so it keeps the packet it was read from rather than the parsed `Query` (name, question,
    cache key, OPT record, UDP size and their object: some 300 bytes more): `q` reads it
    again, which only an answer loaded from the cache (once a second), the slow path and a
    late block need."""

    packet: bytes  # the query after its ID: the memo key's own copy
    decision: Decision
    key: bytes | None  # the cache key for the answer; None: the question's own (`q.key`)
    block_tail: bytes  # the whole blocked reply after its ID, when blocked
    head: tuple  # the query-log columns from client to app (see FilterResolver._log)
    expires: float = NEVER  # when `tail` is made again: its TTLs age a second, or it expires
    tail: bytes = b""
    cap: int | None = None  # the most TTL may say: seconds until a pause or overlay ends
    kind: str = ""  # the kind of rule behind `block_tail`, for /metrics
    family: bool = False  # a child's question: the family filter answers it (agent/dns/family.py)
    fits: bool = False  # `tail` fits in what the client can take over UDP
    # how the compiled front end ages `tail` a second at a time until the cache entry it was
    # made from expires (`_aging`), instead of Python loading it again each second
    aging: bytes | None = None

    @property
    def q(self) -> wire.Query:
        """The question as parsed (its ID reads 0: nothing that uses it sends that)."""
        return wire.parse_query(b"\0\0" + self.packet)


def _kind_of(head: tuple) -> str:
    """The rule kind in a query-log row's columns (client..qtype, action, rule, ...)."""
    return RuleRef.from_column(head[6]).kind


def _capped(reply: bytes, offsets: tuple[int, ...], cap: int) -> bytes:
    """The reply with no TTL above `cap`."""
    ttls = wire.read_ttls(reply, offsets)
    if all(t <= cap for t in ttls):
        return reply
    return wire.with_ttls(reply, offsets, tuple(min(t, cap) for t in ttls))


_AGING, _AGED_RECORD = struct.Struct("=ddi"), struct.Struct("=HI")


def _aging(entry: Entry, cap: int | None, question: int) -> bytes | None:
    """`_Prepared.aging` for a tail made from `entry` (`_tail`) for a question of `question`
    bytes: the entry's stored and expires times, the cap (-1: none), then each record's TTL
    offset in the tail and its TTL as stored, so `_fastpath.replay_batch` ages the tail as a
    load from the cache would. None when they do not fit (then Python loads it each second)."""
    shift = question + wire.HEADER.size - entry.question_end - 2  # the reply's offsets -> tail's
    try:
        head = _AGING.pack(entry.stored, entry.expires, -1 if cap is None else min(cap, 2**31 - 1))
        pack = _AGED_RECORD.pack
        return head + b"".join(
            pack(at + shift, ttl) for at, ttl in zip(entry.offsets, entry.ttls, strict=True)
        )
    except (struct.error, ValueError):
        return None


def _tail(q: wire.Query, reply: bytes, question_end: int) -> bytes:
    """A stored reply after its ID, with the client's RD bit and exact question bytes: the
    client's ID in front of it makes the answer."""
    flags = (reply[2] & 0xFE) | ((q.flags >> 8) & 0x01)
    return bytes((flags,)) + reply[3:12] + q.question + reply[question_end:]


def _compose_rewrite(q: wire.Query, target: str, target_reply: bytes) -> bytes:
    upstream = DNSRecord.parse(target_reply)
    qname = DNSLabel(q.name)
    reply = DNSRecord.question(q.name, QTYPE.get(q.qtype, "A")).reply()
    reply.header.rcode = upstream.header.rcode
    ttl = min([REWRITE_TTL] + [rr.ttl for rr in upstream.rr])
    reply.add_answer(RR(qname, QTYPE.CNAME, ttl=ttl, rdata=CNAME(target)))
    for rr in upstream.rr:
        reply.add_answer(rr)
    if q.edns:
        reply.add_ar(EDNS0(udp_len=wire.EDNS_SIZE, flags="do" if q.do else ""))
    return bytes(reply.pack())


# -- the front ends --------------------------------------------------------------------------


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(
        self,
        resolver: FilterResolver,
        sock: socket.socket | None = None,
        guard: FloodGuard | None = None,
    ) -> None:
        self.resolver, self.guard = resolver, guard
        self.transport: asyncio.DatagramTransport | None = None
        self.sock = sock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, reply: bytes, addr: tuple) -> None:
        """Straight to the kernel; only when its buffer is full does the transport queue it."""
        if self.sock is not None:
            try:
                self.sock.sendto(reply, addr)
                return
            except BlockingIOError:
                pass
            except OSError as exc:
                log.debug("cannot answer %s: %s", addr[0], exc)
                return
        self.transport.sendto(reply, addr)  # type: ignore[union-attr]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        guard = self.guard
        if guard is not None and not guard.allow(addr[0], time.monotonic()):
            reply = guard.refuse(data, addr[0])
            if reply is not None:
                self.send(reply, addr)
            return
        try:
            reply = self.resolver.answer(data, addr[0])
        except Exception:  # one bad packet must never stop the server
            log.exception("unexpected error answering a packet from %s", addr[0])
            reply = wire.error_reply(data, wire.SERVFAIL)
        if reply is None:
            pass
        elif isinstance(reply, bytes):
            self.send(reply, addr)
        else:
            asyncio.ensure_future(self._later(reply, data, addr))
        if self.resolver._retired:
            self.resolver.tidy()

    async def _later(
        self, pending: Coroutine[Any, Any, bytes | None], data: bytes, addr: tuple
    ) -> None:
        try:
            reply = await pending
        except Exception:
            log.exception("unexpected error resolving a query from %s", addr[0])
            reply = wire.error_reply(data, wire.SERVFAIL)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.send(reply, addr)


class BatchedUdp:
    """The UDP front end on the compiled fast path: a batch of datagrams per system call each
    way (recvmmsg and sendmmsg), where asyncio's datagram transport makes two calls a packet.
    Used when the fast path is built (Linux); otherwise `UdpProtocol` serves."""

    BATCH = 32
    ROUNDS = 8  # batches per wake-up, so timers and the upstream replies get their turn

    def __init__(
        self, resolver: FilterResolver, sock: socket.socket, guard: FloodGuard | None = None
    ) -> None:
        self.resolver, self.sock, self.fd = resolver, sock, sock.fileno()
        self.guard = guard
        self.unsent = 0  # replies the kernel would not take (its send buffer was full)
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        loop.add_reader(self.fd, self._readable)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.fd)
            self._loop = None

    def _readable(self) -> None:
        handled = self._answer_batches()
        resolver = self.resolver
        if resolver._retired:  # the replies have gone: free some of an emptied memo
            # a slice between packets; all of it at once in a flood, where every wake reads
            # whole batches and no packet waits alone
            resolver.tidy(TIDY_SLICE if handled < self.BATCH else None)

    def _answer_batches(self) -> int:
        """Up to ROUNDS batches read and answered; how many packets were read. What the memo
        already knows (a blocked question, a cached answer, aged to the second, and a name
        never asked whose class a block was kept for: `_keep_class`) the fast path answers
        and logs in C (`replay_batch`, as `FilterResolver.answer` would); the rest come back
        here."""
        resolver = self.resolver
        replay, answer = fastpath.replay_batch, resolver.answer  # type: ignore[union-attr]
        guard = self.guard
        handled = 0
        allow = guard.allow if guard is not None else None
        exempt = guard.limiter.exempt if guard is not None else frozenset()  # the box itself
        for _ in range(self.ROUNDS):
            ts = resolver.wallclock()
            try:
                memo = resolver.memo_at(ts, resolver.holder.current)
            except Exception:  # then every packet meets it in `answer`, which says so
                memo = {}
            try:  # one monotonic reading a batch: the rate limit needs no finer
                got, rest, cached, unsent = replay(
                    self.fd, self.BATCH, memo, _Prepared, ts, resolver.monotonic(),
                    resolver.submit, resolver.blocked, allow, exempt, time.monotonic(),
                    resolver.classes if memo else None,  # an empty memo keeps no class
                )  # fmt: skip
            except OSError as exc:
                log.debug("receiving on UDP: %s", exc)
                return handled
            handled += got
            resolver.from_cache += cached
            self.unsent += unsent
            out: list[tuple[bytes, bytes]] = []
            for data, client, addr, allowed in rest:
                if not allowed:
                    reply = guard.refuse(data, client)  # type: ignore[union-attr]
                    if reply is not None:
                        out.append((reply, addr))
                    continue
                try:
                    reply = answer(data, client)
                except Exception:  # one bad packet must never stop the server
                    log.exception("unexpected error answering a packet from %s", client)
                    reply = wire.error_reply(data, wire.SERVFAIL)
                if reply is None:
                    continue
                if type(reply) is bytes:
                    out.append((reply, addr))
                else:
                    asyncio.ensure_future(self._later(reply, data, client, addr))  # type: ignore[arg-type]
            if out:
                self._send(out)
            if got < self.BATCH:
                return handled
        return handled

    def _send(self, out: list[tuple[bytes, bytes]]) -> None:
        try:
            sent = fastpath.send_batch(self.fd, out)  # type: ignore[union-attr]
        except OSError as exc:
            log.debug("answering on UDP: %s", exc)
            sent = 0
        self.unsent += len(out) - sent

    async def _later(
        self, pending: Coroutine[Any, Any, bytes | None], data: bytes, client: str, addr: bytes
    ) -> None:
        try:
            reply = await pending
        except Exception:
            log.exception("unexpected error resolving a query from %s", client)
            reply = wire.error_reply(data, wire.SERVFAIL)
        if reply is not None and self._loop is not None:
            self._send([(reply, addr)])


class ListenError(Exception):
    """A listen address that cannot be used, said plainly, with the likely cause."""

    HINTS = {
        errno.EADDRINUSE: "another program already answers there (another DNS server such as "
        "dnsmasq, Pi-hole or systemd-resolved, or HouseRules itself); `houserules doctor` names it",
        errno.EACCES: "ports below 1024 need root or the CAP_NET_BIND_SERVICE capability "
        "(the systemd unit in deploy/ gives it)",
        errno.EADDRNOTAVAIL: "this machine has no such address; check [dns] listen",
    }

    def __init__(self, host: str, port: int, proto: str, exc: OSError) -> None:
        why = exc.strerror or str(exc)
        hint = self.HINTS.get(exc.errno or 0)
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        super().__init__(
            f"cannot listen on {where} ({proto}): {why}" + (f": {hint}" if hint else "")
        )


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A bound UDP socket and a listening TCP socket on the same port. Port 0 (tests) lets the
    kernel pick the UDP port; when another program holds that number for TCP, another pick is
    tried, so a busy machine never fails a start by chance."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(20 if port == 0 else 1):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        udp.setblocking(False)
        if family == socket.AF_INET6:  # "[::]:53" beside "0.0.0.0:53", as on the Pi
            udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        _grow_buffers(udp)
        try:
            udp.bind((host, port))
        except OSError as exc:
            udp.close()
            raise ListenError(host, port, "UDP", exc) from exc
        chosen = udp.getsockname()[1]
        try:
            return udp, listen_tcp(host, chosen)
        except OSError as exc:
            udp.close()
            if port == 0 and exc.errno == errno.EADDRINUSE and attempt < 19:
                continue
            raise ListenError(host, chosen, "TCP", exc) from exc
    raise AssertionError("unreachable")  # the last attempt returns or raises


class DnsServer:
    """Owns the sockets: UDP and TCP on every configured listen address."""

    def __init__(self, resolver: FilterResolver) -> None:
        self.resolver = resolver
        dns = resolver.cfg.dns
        limit = dns.client_rate_limit
        self.guard = FloodGuard(resolver, limit) if limit > 0 else None
        self.tcp_limits = TcpLimits(dns.tcp_connections, dns.tcp_per_client)
        self._udp: list[asyncio.DatagramTransport | BatchedUdp] = []
        self._tcp: list[TcpFront] = []
        self.addresses: list[tuple[str, int]] = []
        self.tls_addresses: list[tuple[str, int]] = []  # DNS over TLS
        self._socks: list[socket.socket] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.resolver.upstreams.start()
        if self.resolver.family is not None:
            await self.resolver.family.pool.start()
        self.tcp_limits.total = tcp_budget(self.resolver.cfg.dns.tcp_connections)
        for hp in self.resolver.cfg.dns.listen:
            sock, listening = _bind_pair(hp.host, hp.port)
            if fastpath is not None:
                front: asyncio.DatagramTransport | BatchedUdp = BatchedUdp(
                    self.resolver, sock, self.guard
                )
                front.start(loop)
            else:
                front, _ = await loop.create_datagram_endpoint(
                    lambda s=sock: UdpProtocol(self.resolver, s, self.guard), sock=sock
                )
            self._socks.append(sock)
            port = sock.getsockname()[1]  # port 0 in tests: the kernel picks one
            self._udp.append(front)
            tcp = TcpFront(self.resolver, self.guard, self.tcp_limits, listening)
            tcp.start(loop)
            self._tcp.append(tcp)
            self.addresses.append((hp.host, port))
        tls_listen = self.resolver.cfg.dns.tls_listen
        context = dot_context(self.resolver.cfg) if tls_listen else None
        names = dot_box_names() if tls_listen else ()
        for hp in tls_listen:
            try:
                listening = listen_tcp(hp.host, hp.port)
            except OSError as exc:
                raise ListenError(hp.host, hp.port, "DNS over TLS", exc) from exc
            tcp = TcpFront(self.resolver, self.guard, self.tcp_limits, listening, context, names)
            tcp.start(loop)
            self._tcp.append(tcp)
            self.tls_addresses.append((hp.host, listening.getsockname()[1]))

    async def close(self) -> None:
        for t in self._udp:
            t.close()
        for sock in self._socks:
            sock.close()
        for tcp in self._tcp:
            await tcp.close()
        await self.resolver.upstreams.aclose()
        if self.resolver.family is not None:
            await self.resolver.family.pool.aclose()


def dot_context(cfg: Config) -> ssl.SSLContext:
    """TLS for DNS over TLS, with the box's own certificate (made at first start)."""
    from agent import boxcert  # the cryptography package loads only when DoT is on

    cert = boxcert.for_config(cfg)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert.cert_file, cert.key_file)
    context.sni_callback = remember_server_name  # each device's own name (agent/dotnames.py)
    log.info("DNS over TLS certificate fingerprint (SHA-256): %s", cert.fingerprint)
    return context


def dot_box_names() -> tuple[str, ...]:
    """The box names under which devices have their own DNS-over-TLS names."""
    from agent import boxcert

    return boxcert.box_names()


def _grow_buffers(sock: Any) -> None:
    """Room for bursts: a whole house waking up at once should queue, not be dropped."""
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, 4 * 1024 * 1024)
