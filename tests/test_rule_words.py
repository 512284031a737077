"""Which rule decided, typed and in words: every `RuleKind` has its words and a query-log text
that reads back as itself, no module but `agent.rules.decision` spells a rule's text, and a
path rule's blocks reach the child page, the digest and the block page in words, never as
"path:youtube-shorts"."""

from __future__ import annotations

import ast
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from agent.config import Config, RulesConfig
from agent.digest import collect
from agent.digest.build import build_digest
from agent.digest.render_html import render_html
from agent.digest.render_text import render_text
from agent.insights.job import InsightsJob
from agent.proxy.activity import HTTP, request_row
from agent.proxy.blockpage import block_page
from agent.proxy.clients import Asker
from agent.proxy.paths import shipped_names
from agent.rules.catalog import load_catalog
from agent.rules.decide import BLOCK, made
from agent.rules.decision import Action, Decision, RuleKind, RuleRef, Subject
from agent.rules.reasons import RULE_WORDS, child_words, rule_label
from agent.store import household as store
from agent.store.querylog import QueryLogWriter
from agent.talk.prompts import default_library

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = {  # a subject of each sort, awkward where it can be
    Subject.NONE: "",
    Subject.APP: "tiktok",
    Subject.CATEGORY: "random-video-chat",
    Subject.SCHEDULE: "Bed: school nights",
    Subject.DOMAIN: "example.co.uk",
    Subject.ENGINE: "google",
    Subject.PATH: "youtube-shorts",
    Subject.TEXT: "from:a:newer:box",
}
APPS = {"tiktok": "TikTok", "roblox": "Roblox"}
TABLET = "192.168.1.20"


def ref(kind: RuleKind) -> RuleRef:
    return RuleRef(kind, SAMPLE[kind.subject])


@pytest.mark.parametrize("kind", list(RuleKind))
def test_every_kind_has_its_words(kind: RuleKind) -> None:
    words = RULE_WORDS.get(kind)
    assert words is not None, f"{kind!r} has no entry in agent.rules.reasons.RULE_WORDS"
    assert words.parent.strip() and words.child.strip()
    assert kind.subject in SAMPLE


@pytest.mark.parametrize("kind", list(RuleKind))
def test_every_kind_reads_back_from_its_query_log_text(kind: RuleKind) -> None:
    rule = ref(kind)
    assert RuleRef.from_column(rule.to_column()) == rule
    assert Decision(Action.BLOCK, "", rule).columns[1] == rule.to_column()


@pytest.mark.parametrize("kind", list(RuleKind))
def test_no_label_shows_a_raw_kind_and_subject(kind: RuleKind) -> None:
    rule = ref(kind)
    for words in (rule_label(rule), rule_label(rule, APPS.get), child_words(rule, 13)):
        assert f"{kind.value}:" not in words, words
        assert not rule.subject or rule.to_column() not in words, words
        assert "{" not in words and "None" not in words, words
    if kind.subject is Subject.PATH:
        assert "youtube-shorts" not in rule_label(rule), "a path rule's id is not a name"


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("age:tiktok", RuleRef(RuleKind.AGE, "tiktok")),
        ("allow:domain:bbc.co.uk", RuleRef(RuleKind.ALLOW_DOMAIN, "bbc.co.uk")),
        ("block:category:gaming", RuleRef(RuleKind.BLOCK_CATEGORY, "gaming")),
        ("schedule:domain:odd", RuleRef(RuleKind.SCHEDULE, "domain:odd")),
        ("safe-search:unsupported", RuleRef(RuleKind.NO_SAFE_SEARCH)),
        ("safe-search:youtube", RuleRef(RuleKind.SAFE_SEARCH, "youtube")),
        ("path:youtube-shorts", RuleRef(RuleKind.PATH, "youtube-shorts")),
        ("search:bing", RuleRef(RuleKind.SEARCH, "bing")),
        ("lift:7", RuleRef(RuleKind.UNKNOWN, "lift:7")),  # from a newer box: never an error
        ("", RuleRef(RuleKind.UNKNOWN, "")),
    ],
)
def test_query_log_texts(text: str, rule: RuleRef) -> None:
    assert RuleRef.from_column(text) == rule
    assert rule.to_column() == text


@pytest.mark.parametrize(
    ("rule", "label"),
    [
        (RuleRef(RuleKind.AGE, "tiktok"), "TikTok: under the app's minimum age"),
        (RuleRef(RuleKind.SCHEDULE, "Bedtime"), "Bedtime schedule"),
        (RuleRef(RuleKind.PROTECTION, "bypass"), "ways around the house rules"),
        (RuleRef(RuleKind.BLOCK_APP, "roblox"), "Roblox: blocked by a parent"),
        (RuleRef(RuleKind.BLOCK_DOMAIN, "example.com"), "example.com: blocked by a parent"),
        (RuleRef(RuleKind.LIST, "gambling"), "gambling list"),
        (RuleRef(RuleKind.AGE_CATEGORY, "random-video-chat"), "random video chat: for adults"),
        (RuleRef(RuleKind.CANARY), "Firefox kept on the home DNS"),
        (RuleRef(RuleKind.UNKNOWN, "lift:7"), "another house rule"),
    ],
)
def test_labels_for_a_parent(rule: RuleRef, label: str) -> None:
    assert rule_label(rule, APPS.get) == label


def test_a_path_rule_is_named_from_the_shipped_path_rules() -> None:
    rule = RuleRef(RuleKind.PATH, "youtube-shorts")
    assert rule_label(rule, None, shipped_names().get) == (
        "YouTube Shorts: switched off in the house rules"
    )


# Nothing else spells or parses a rule's text: a string starting "age:", "path:", ... in code
# outside agent/rules/decision.py, or a `.rule.startswith(...)`, is the prefix parsing this
# replaced, come back.
_PREFIXES = sorted({k.value.split(":")[0] for k in RuleKind}, key=len, reverse=True)
_SPELLED = re.compile("^(" + "|".join(re.escape(p) for p in _PREFIXES) + "):")
_PARSING = {"startswith", "partition", "removeprefix", "split", "find"}


def _spelled(tree: ast.AST) -> list[int]:
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            if _SPELLED.match(node.value):
                lines.append(node.lineno)
        elif isinstance(node, ast.Attribute) and node.attr in _PARSING:
            inner = node.value
            if isinstance(inner, ast.Attribute) and inner.attr == "rule":
                lines.append(node.lineno)
    return lines


def test_the_guard_sees_spelling_and_parsing() -> None:
    code = (
        'def f(d):\n    """path:x"""\n    r = f"path:{d}"\n    return d.rule.startswith("age:")\n'
    )
    assert _spelled(ast.parse(code)) == [3, 4, 4]


def test_no_module_spells_or_parses_a_rule_text_itself() -> None:
    found = []
    for folder in ("agent", "dashboard"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "agent" / "rules" / "decision.py" or "migrations" in path.parts:
                continue
            source = path.read_text()
            for number in _spelled(ast.parse(source)):
                line = source.splitlines()[number - 1].strip()
                found.append(f"{path.relative_to(ROOT)}:{number}: {line}")
    assert not found, "\n".join(found)


# A path rule's blocks, end to end ----------------------------------------------------------


@pytest.fixture
def sam(engine):
    child = store.add_child(engine, "Sam", date(2014, 5, 1))
    store.add_device(engine, ip=TABLET, name="Sam's tablet", owner="child", child_id=child.id)
    return child


def test_a_path_rules_blocks_reach_parents_and_the_child_in_words(
    tmp_path: Path, auth, engine, sam, clock
) -> None:
    # The proxy blocks YouTube Shorts for Sam four times and logs it as the addon does.
    shorts = made(BLOCK, "YouTube Shorts is switched off on this device; the rest of YouTube "
                  "works", RuleKind.PATH, "youtube-shorts", "Sam", "youtube", "video")  # fmt: skip
    who = Asker(TABLET, child=sam)
    writer = QueryLogWriter(Path(engine.url.database), flush_interval=0.01)
    writer.start()
    try:
        start = clock() - timedelta(hours=1)
        for minute in range(4):
            row = request_row(start.timestamp() + 60 * minute, who, "www.youtube.com", HTTP, shorts)
            assert writer.submit(row)
        assert writer.flush()
    finally:
        writer.stop()
    cfg = Config(rules=RulesConfig(timezone="Europe/London"))
    catalog = load_catalog()
    InsightsJob(engine, catalog, cfg).run(store.load_household(engine), {}, clock())

    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "YouTube Shorts: switched off in the house rules: <strong>4</strong>" in page
    assert "path:" not in page and "youtube-shorts" not in page

    period = collect.period_for(clock() + timedelta(days=4))
    week = collect.child_week(engine, sam, period, clock().tzinfo)
    assert week.summary.blocked == 4  # the week the digest is about holds the blocks
    digest = build_digest("Nana", period, [week], library=default_library(), catalog=catalog,
                          tz=clock().tzinfo, dashboard_url="http://box.home")  # fmt: skip
    for text in (render_text(digest), render_html(digest)):
        assert "path:" not in text

    shown = block_page(shorts, "www.youtube.com", "http://box.home/kids", "YouTube Shorts")
    assert b"path:" not in shown and b"YouTube Shorts: switched off" in shown
