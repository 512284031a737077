"""Request rows in the query log's own shape, and the throttle that keeps them few."""

from __future__ import annotations

from agent.events.searches import Search
from agent.proxy.activity import HTTP, Throttle, request_row, search_row
from agent.proxy.clients import Asker
from agent.rules.decision import Action, Decision, RuleKind, RuleRef
from agent.store.querylog import LogEntry

from proxytools import SAM

WHO = Asker("192.168.1.10", "02:00:00:00:00:10", None, SAM)


def test_a_request_row_is_a_query_log_entry():
    d = Decision(
        Action.REWRITE,
        "Safe search",
        RuleRef(RuleKind.SAFE_SEARCH, "google"),
        "Sam",
        rewrite_to="x",
    )
    row = request_row(100.0, WHO, "www.google.com", HTTP, d)
    assert isinstance(row, LogEntry)
    assert (row.client, row.device, row.child, row.name, row.qtype, row.action) == (
        "192.168.1.10", "02:00:00:00:00:10", "Sam", "www.google.com", "HTTP", "allow",
    )  # fmt: skip
    blocked = request_row(
        1.0, WHO, "a.test", HTTP, Decision(Action.BLOCK, "r", RuleRef(RuleKind.BLOCK_DOMAIN, "a"))
    )
    assert blocked.action == "block" and blocked.rule == "block:domain:a"


def test_a_search_row_says_what_was_searched():
    row = search_row(1.0, WHO, "www.bing.com", Search("bing", "Bing", "owl facts"))
    assert (row.qtype, row.rule, row.category) == ("SEARCH", "search:bing", "search")
    assert row.reason == 'Searched Bing for "owl facts"'


def test_the_throttle():
    t = Throttle(max_keys=2)
    assert t.due("a", 0.0, 60) and not t.due("a", 59.0, 60) and t.due("a", 60.0, 60)
    assert t.due("b", 0.0, 60)
    assert t.due("c", 0.0, 60)  # over the bound: forgotten, never a crash
    assert t.due("a", 61.0, 60)
