"""`houserules explain NAME_OR_DOMAIN --client IP`: what the house rules say, and why.

It asks `agent.rules.decide` with the policy the DNS server builds (the compiled lists, the app
catalogue, safe search, the household from the store, the neighbour table and [rules]), at the
box's time, so what it prints is what the house would answer right now.
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from agent.cli import CliError
from agent.commands import common
from agent.config import Config
from agent.dns.neighbours import read_neighbours
from agent.lists.compile import load_or_compile
from agent.lists.status import statuses
from agent.rules.catalog import Catalog
from agent.rules.decide import ADULT_AGE, decide
from agent.rules.decision import Decision
from agent.rules.household import Device, Household
from agent.rules.policy import Policy
from agent.rules.reasons import rule_label
from agent.rules.safesearch import SafeSearchError, load_safesearch
from agent.store import household as store

QTYPE_A = 1


def register(sub: Any) -> None:
    p = sub.add_parser("explain", help="what the house rules say about a name, and why")
    p.add_argument("name", metavar="NAME_OR_DOMAIN")
    p.add_argument("--client", required=True, metavar="IP", help="the asking device's address")
    p.set_defaults(func=explain)


def explain(cfg: Config, args: argparse.Namespace) -> int:
    name = _hostname(args.name)
    try:
        client = store.normalise_ip(args.client)
        safesearch = load_safesearch()
    except store.HouseholdError as exc:
        raise CliError(f"--client: {exc}") from None
    except SafeSearchError as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    cat = common.catalog()
    index, _ = load_or_compile(cfg, cat.index_entries(), cat.fingerprint)
    household = store.load_household(common.engine(cfg))
    neighbours = read_neighbours()
    policy = Policy(index, household, cat, safesearch, neighbours, cfg.rules)
    decision = decide(policy, client, name, QTYPE_A, common.now(cfg))
    device = household.device_for(client, neighbours.get(client))
    print(f"{name} asked by {client} ({_device_words(device, cfg)}):")
    app = cat.get(decision.app) if decision.app else None

    def app_name(app_id: str) -> str | None:
        found = cat.get(app_id)
        return found.name if found is not None else None

    rows = [
        ("action", decision.action.value + (" (NXDOMAIN)" if decision.nxdomain else "")),
        ("reason", decision.reason),
        ("rule", f"{rule_label(decision.rule, app_name)} ({decision.columns[1]})"),
        ("child", decision.child or "-"),
        ("app", f"{app.name} ({app.id})" if app else decision.app or "-"),
        ("category", decision.category or "-"),
    ]
    if decision.rewrite_to:
        rows.append(("answer", f"CNAME {decision.rewrite_to}"))
    for key, value in rows:
        print(f"  {key + ':':<10} {value}")
    for note in _open_categories(cfg, cat, decision, household, common.now(cfg)):
        print(f"  {'note:':<10} {note}")
    return 0


def _open_categories(
    cfg: Config, cat: Catalog, decision: Decision, household: Household, now: datetime
) -> list[str]:
    """Categories the house rules promise to block for this child that no loaded list covers
    yet: an allowed answer may only mean the list has not arrived."""
    if decision.blocked or decision.child is None:
        return []
    child = household.child_by_name.get(decision.child.lower())
    adult = child is None or child.age_on(now.date()) >= ADULT_AGE
    under_18 = () if adult else cfg.rules.under_18_block
    wanted = tuple(dict.fromkeys((*cfg.rules.always_block, *under_18)))
    return [s.words(now) for s in statuses(cfg, cat, wanted) if not s.blocked or s.missing]


def _hostname(text: str) -> str:
    host = text.strip().lower()
    if "://" in host:
        host = urlsplit(host).hostname or ""
    host = host.split("/")[0].rstrip(".")
    if not host or " " in host:
        raise CliError(f"{text!r} is not a domain name like www.example.com")
    return host


def _device_words(device: Device | None, cfg: Config) -> str:
    if device is None:
        rule = cfg.rules.unassigned
        return f"a device the box does not know, so the [rules] unassigned = {rule!r} rule applies"
    return f"device {device.id}, {device.label}, {device.owner}"
