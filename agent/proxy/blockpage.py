"""The page a child sees instead of a blocked site: calm, clear, and never blaming.

It says what is closed, why (the rules engine's own sentence), which rule, and offers the next
step: asking a parent, through the child page of the dashboard (`/kids`).
"""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from agent.rules.decision import Decision, RuleKind
from agent.rules.reasons import rule_label

STATUS = 403
HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",  # the answer may change when a parent changes a rule
}
KIDS_PATH = "/kids"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not open right now</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f7f5; color: #1d2b24; margin: 0; }}
main {{ max-width: 34rem; margin: 12vh auto; padding: 2rem; background: #fff;
        border-radius: 1rem; box-shadow: 0 2px 12px rgba(0, 0, 0, .06); }}
h1 {{ font-size: 1.5rem; margin-top: 0; }}
.why {{ background: #eef4f0; border-radius: .6rem; padding: .8rem 1rem; }}
.ask {{ display: inline-block; margin-top: 1rem; padding: .7rem 1.2rem; border-radius: .6rem;
        background: #2f6b4f; color: #fff; text-decoration: none; font-weight: 600; }}
small {{ color: #5b6b63; }}
</style>
</head>
<body>
<main>
<h1>{what} is not open right now</h1>
<p>Your family's house rules keep it closed on this device. Nothing is broken.</p>
<p class="why"><strong>Why:</strong> {reason}<br><strong>Which rule:</strong> {rule}</p>
<p>If you think it should be open, or you need it for something (like homework),
ask a parent. They can see what you asked and change the rule.</p>
<a class="ask" href="{kids}">Ask a parent</a>
<p><small>{host}</small></p>
</main>
</body>
</html>
"""


def kids_page(dashboard: str) -> str:
    """The child page of the dashboard at `dashboard` ("192.168.1.2:8080" or a URL)."""
    base = dashboard if "://" in dashboard else f"http://{dashboard}"
    return base.rstrip("/") + KIDS_PATH


def kids_link(kids_url: str, host: str) -> str:
    """The child page with the site filled in, so asking takes one tap."""
    joiner = "&" if "?" in kids_url else "?"
    return f"{kids_url}{joiner}{urlencode({'site': host})}"


def rule_words(decision: Decision, what: str | None) -> str:
    """Which rule, in words. `what` is the name of what is closed: the app, or a path rule's
    part of it ("YouTube Shorts")."""
    rule = decision.rule

    def named(subject: str) -> str | None:
        return what if rule.kind is RuleKind.PATH or subject == decision.app else None

    return rule_label(rule, named, named)


def block_page(decision: Decision, host: str, kids_url: str, what: str | None = None) -> bytes:
    """The HTML page for a request the house rules block. `what` names it ("YouTube Shorts");
    by default the host."""
    page = _PAGE.format(
        what=escape(what or host),
        reason=escape(decision.reason or "the house rules"),
        rule=escape(rule_words(decision, what)),
        kids=escape(kids_link(kids_url, host), quote=True),
        host=escape(host),
    )
    return page.encode("utf-8")
