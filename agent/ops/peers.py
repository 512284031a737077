"""`houserules doctor` with two boxes: the other box answers DNS and follows the same house rules.

Each box's DNS process answers `version.houserules.home.arpa` (TXT, home networks only;
agent/dns/boxinfo.py) with the household version it enforces. Two boxes that share one
database follow the same version, give or take the second it takes a box to notice a change;
two that disagree for longer do not share the database, or one of them cannot reach it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from dnslib import RCODE, DNSRecord

from agent.config import HostPort
from agent.dns.boxinfo import NAME as VERSION_NAME
from agent.ops.doctor import CANARY, Ask, Finding, ask, bad, good, unknown

SETTLE_SECONDS = 3.0  # a box reloads the household within a second or two of a change


def box_info(reply: DNSRecord | None) -> dict[str, str]:
    """What a box's TXT answer says ({"household": "42", "database": "3f9a..."}); {} if none."""
    if reply is None or reply.header.rcode != RCODE.NOERROR:
        return {}
    for rr in reply.rr:
        text = b"".join(getattr(rr.rdata, "data", []) or []).decode("ascii", "replace")
        if text.startswith("household="):
            return dict(part.partition("=")[::2] for part in text.split(";") if "=" in part)
    return {}


def household_version(reply: DNSRecord | None) -> str | None:
    """The version in a box's TXT answer ("42", or "none" before it read any), else None."""
    return box_info(reply).get("household")


def loopback_for(hp: HostPort) -> HostPort:
    """Where to ask this box itself: a wildcard listen address is reached on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(hp.host, hp.host)
    return HostPort(host, hp.port)


def check_peer(
    own: HostPort,
    peer: HostPort,
    *,
    query: Ask = ask,
    timeout: float = 2.0,
    settle: float = SETTLE_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Finding:
    """Does the other box answer DNS as HouseRules, and follow this box's household version?"""
    reply = query(peer.host, peer.port, CANARY, "A", timeout)
    if reply is None:
        return bad(
            "peers",
            f"The other box at {peer} does not answer DNS. Devices that ask it get no answer "
            "and move to this box, so the home keeps working, more slowly for some.",
            "Check the other box is switched on and connected; on it run: "
            "sudo systemctl status houserules",
        )
    if reply.header.rcode != RCODE.NXDOMAIN:
        return bad(
            "peers",
            f"Something answers DNS at {peer}, but it is not HouseRules: devices that ask it "
            "are not filtered.",
            f"Check the address under [dns] peers, and that HouseRules runs on {peer.host}.",
        )
    deadline = clock() + settle
    while True:
        me = box_info(query(own.host, own.port, VERSION_NAME, "TXT", timeout))
        them = box_info(query(peer.host, peer.port, VERSION_NAME, "TXT", timeout))
        mine, theirs = me.get("household"), them.get("household")
        if mine is None or theirs is None or mine == theirs or clock() >= deadline:
            break
        time.sleep(0.2)  # one of them may be reloading a change made this very second
    if mine is None:
        return unknown("peers", f"{peer} answers DNS; this box did not say its household version")
    if theirs is None:
        return bad(
            "peers",
            f"Something answers DNS at {peer}, but not as this version of HouseRules (it does "
            "not say which household version it follows).",
            f"Check the address under [dns] peers, and that {peer.host} runs this version of "
            "HouseRules.",
        )
    ours, other = me.get("database"), them.get("database")
    if ours is not None and other is not None and ours != other:
        return bad(
            "peers",
            f"The other box ({peer}) reads a different database from this one: the two boxes "
            "keep two households, and a change made on one never reaches the other.",
            "Give both boxes the same [store] url (the same PostgreSQL database), then run "
            "houserules doctor again.",
        )
    if ours is None or other is None:
        return unknown(
            "peers",
            f"{peer} answers DNS and follows household version {theirs}; which database each "
            "box reads could not be told (a box that has not reached PostgreSQL since it "
            "started, or one on SQLite)",
        )
    if mine != theirs:
        return bad(
            "peers",
            f"This box follows household version {mine}, the other box ({peer}) version "
            f"{theirs}: they do not share one database, or one of them cannot reach it and "
            "keeps the rules it had.",
            "Give both boxes the same [store] url, then run houserules doctor on the other "
            "box too and look at its Database line.",
        )
    return good(
        "peers",
        f"{peer} answers DNS; both boxes read one database and follow household version {mine}",
    )


def check_peers(
    listen: Sequence[HostPort],
    peers: Sequence[HostPort],
    *,
    query: Ask = ask,
    timeout: float = 2.0,
    settle: float = SETTLE_SECONDS,
) -> list[Finding]:
    own = loopback_for(listen[0])
    return [check_peer(own, p, query=query, timeout=timeout, settle=settle) for p in peers]
