"""Path rules: the shipped file is sound, a rule covers its paths and no others, mistakes name
the rule and the field."""

from __future__ import annotations

import pytest

from agent.proxy.paths import PathRulesError, load_path_rules, parse_path_rules
from agent.rules.catalog import load_catalog

RULES = load_path_rules()


def test_every_shipped_rule_belongs_to_an_app_in_the_catalogue():
    apps = load_catalog().apps
    assert RULES.rules and all(r.app in apps for r in RULES.rules)
    assert all(r.source and r.why for r in RULES.rules)


@pytest.mark.parametrize(
    ("host", "path", "rule"),
    [
        ("www.youtube.com", "/shorts/abc123", "youtube-shorts"),
        ("m.youtube.com", "/shorts", "youtube-shorts"),
        ("youtube.com", "/feed/shorts", "youtube-shorts"),
        ("youtubei.googleapis.com", "/youtubei/v1/reel/reel_item_watch", None),
        ("www.youtube.com", "/youtubei/v1/reel/reel_item_watch", "youtube-shorts"),
        ("www.youtube.com", "/watch", None),
        ("www.youtube.com", "/shortsy", None),
        ("notyoutube.com", "/shorts/abc", None),
        ("www.instagram.com", "/reel/Cx1", "instagram-reels"),
        ("www.instagram.com", "/direct/inbox", None),
    ],
)
def test_a_rule_covers_its_paths_and_no_others(host, path, rule):
    found = RULES.match(host, path)
    assert (found.id if found else None) == rule


def test_only_the_rules_switched_on_apply():
    on = RULES.enabled(["instagram-reels"])
    assert on.match("www.youtube.com", "/shorts/x") is None
    assert on.match("www.instagram.com", "/reels") is not None
    with pytest.raises(PathRulesError, match="unknown path rule 'tiktok-live'"):
        RULES.enabled(["tiktok-live"])


GOOD = """
[meta]
schema_version = 1
[[paths]]
id = "x"
app = "youtube"
name = "X"
hosts = ["youtube.com"]
prefixes = ["/x"]
why = "w"
source = "s"
evidence = "official-page"
"""


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (('prefixes = ["/x"]', 'prefixes = ["/x/"]'), "path rule 'x': prefixes"),
        (('prefixes = ["/x"]', 'prefixes = ["x"]'), "path rule 'x': prefixes"),
        (('hosts = ["youtube.com"]', 'hosts = ["YouTube.com"]'), "path rule 'x': hosts"),
        (('evidence = "official-page"', 'evidence = "trust me"'), "path rule 'x': evidence"),
        (('why = "w"', 'colour = "red"'), "path rule 'x': colour: unknown field"),
        (("schema_version = 1", "schema_version = 2"), "schema_version 2"),
    ],
)
def test_mistakes_name_the_rule_and_the_field(change, words):
    assert parse_path_rules(GOOD.encode()).ids == {"x"}
    with pytest.raises(PathRulesError, match=words):
        parse_path_rules(GOOD.replace(*change).encode())


def test_an_id_used_twice_is_refused():
    twice = GOOD + GOOD.split("[meta]\nschema_version = 1")[1]
    with pytest.raises(PathRulesError, match="used twice"):
        parse_path_rules(twice.encode())
