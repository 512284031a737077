"""Safe search at the request: the second line behind the DNS rewrites.

The rules engine decides whether a child's search must be safe: its answer for the engine's
host is a safe-search rewrite (a `SAFE_SEARCH` rule whose subject is the engine; `rewrite_to`
is the engine's safe host). The DNS answers with that host; the addon connects to it too (so
the first line holds even when the proxy resolves names itself) and, here, also sets each
engine's own switch on every request, which holds even where the address trick does not:

- Google: `safe=active` (Google Search Help, "Filter explicit results using SafeSearch";
  the parameter Google's own SafeSearch lock adds to results pages).
- Bing: `adlt=strict` (Microsoft Bing Web Search API "Query parameters": safeSearch/adlt).
- DuckDuckGo: `kp=1` (DuckDuckGo Help Pages, "URL Parameters": kp, Safe Search, 1 = strict).
- YouTube: the `YouTube-Restrict: Strict` or `Moderate` request header (Google Workspace
  Admin Help, "Restrict YouTube content on your network": the HTTP header option).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.rules.decision import Action, Decision, RuleKind

PARAMS: dict[str, tuple[str, str]] = {
    "google": ("safe", "active"),
    "bing": ("adlt", "strict"),
    "duckduckgo": ("kp", "1"),
}
YOUTUBE_HEADER = "YouTube-Restrict"
YOUTUBE_LEVELS = {"restrict.youtube.com": "Strict", "restrictmoderate.youtube.com": "Moderate"}


@dataclass(frozen=True)
class SafeRequest:
    """What to set on the request: query parameters and headers."""

    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.query or self.headers)


NOTHING = SafeRequest()


def engine_of(decision: Decision) -> str | None:
    """The engine a safe-search rewrite is for, or None for any other answer."""
    if decision.action is not Action.REWRITE or decision.rule.kind is not RuleKind.SAFE_SEARCH:
        return None
    return decision.rule.subject


def safe_request(decision: Decision) -> SafeRequest:
    """The parameters and headers that make this request safe, per the rules' answer."""
    engine = engine_of(decision)
    if engine is None:
        return NOTHING
    if engine in PARAMS:
        name, value = PARAMS[engine]
        return SafeRequest(query={name: value})
    level = YOUTUBE_LEVELS.get(decision.rewrite_to or "")
    if engine == "youtube" and level is not None:
        return SafeRequest(headers={YOUTUBE_HEADER: level})
    return NOTHING
