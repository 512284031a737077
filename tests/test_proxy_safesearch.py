"""Safe search at the request follows the rules engine's answer, engine by engine."""

from __future__ import annotations

import pytest

from agent.proxy.safesearch import SafeRequest, engine_of, safe_request
from agent.rules.decide import decide
from agent.rules.decision import Action, Decision, RuleKind, RuleRef

from proxytools import NOON, POLICY, SAM_TABLET


def rewrite(engine: str, target: str) -> Decision:
    return Decision(
        Action.REWRITE, "", RuleRef(RuleKind.SAFE_SEARCH, engine), "Sam", rewrite_to=target
    )


@pytest.mark.parametrize(
    ("decision", "wanted"),
    [
        (rewrite("google", "forcesafesearch.google.com"), SafeRequest({"safe": "active"})),
        (rewrite("bing", "strict.bing.com"), SafeRequest({"adlt": "strict"})),
        (rewrite("duckduckgo", "safe.duckduckgo.com"), SafeRequest({"kp": "1"})),
        (
            rewrite("youtube", "restrict.youtube.com"),
            SafeRequest({}, {"YouTube-Restrict": "Strict"}),
        ),
        (
            rewrite("youtube", "restrictmoderate.youtube.com"),
            SafeRequest({}, {"YouTube-Restrict": "Moderate"}),
        ),
        (rewrite("pixabay", "safesearch.pixabay.com"), SafeRequest()),  # DNS only
        (Decision(Action.ALLOW, "", RuleRef(RuleKind.DEFAULT)), SafeRequest()),
        (Decision(Action.BLOCK, "", RuleRef(RuleKind.NO_SAFE_SEARCH)), SafeRequest()),
    ],
)
def test_each_engine_gets_its_own_switch(decision, wanted):
    assert safe_request(decision) == wanted


def test_the_answer_comes_from_the_rules_engine():
    for host, engine in [("www.google.co.uk", "google"), ("www.bing.com", "bing")]:
        d = decide(POLICY, SAM_TABLET, host, 1, NOON)
        assert engine_of(d) == engine and safe_request(d)
    assert not safe_request(decide(POLICY, SAM_TABLET, "www.bbc.co.uk", 1, NOON))
    assert not safe_request(decide(POLICY, "192.168.1.2", "www.google.com", 1, NOON))  # adult
