"""The block page: what is closed, why, which rule, and a way to ask a parent; calm words,
nothing a page could inject."""

from __future__ import annotations

from agent.proxy.blockpage import block_page, kids_link, kids_page
from agent.rules.decision import Action, Decision, RuleKind, RuleRef

AGE = Decision(
    Action.BLOCK,
    "Blocked: TikTok is for 13+, Sam is 11",
    RuleRef(RuleKind.AGE, "tiktok"),
    "Sam",
    "tiktok",
)
KIDS = "http://192.168.1.2:8080/kids"


def test_it_says_what_why_which_rule_and_how_to_ask():
    page = block_page(AGE, "www.tiktok.com", KIDS, "TikTok").decode()
    assert "TikTok is not open right now" in page
    assert "Blocked: TikTok is for 13+, Sam is 11" in page
    assert "TikTok: under the app&#x27;s minimum age" in page  # the app by its name
    assert 'href="http://192.168.1.2:8080/kids?site=www.tiktok.com"' in page
    assert "ask a parent" in page.lower()


def test_the_words_are_calm_and_never_blame():
    page = block_page(AGE, "www.tiktok.com", KIDS).decode().lower()
    for word in ("forbidden", "denied", "violation", "illegal", "caught", "reported", "403"):
        assert word not in page


def test_a_path_rule_is_named_in_plain_words():
    d = Decision(
        Action.BLOCK,
        "YouTube Shorts is switched off",
        RuleRef(RuleKind.PATH, "youtube-shorts"),
        "Sam",
    )
    page = block_page(d, "www.youtube.com", KIDS, "YouTube Shorts").decode()
    assert "YouTube Shorts: switched off in the house rules" in page


def test_nothing_in_it_can_inject_markup():
    d = Decision(Action.BLOCK, "<script>x</script>", RuleRef(RuleKind.BLOCK_DOMAIN, "a"), "Sam")
    page = block_page(d, 'evil"><b>.test', KIDS).decode()
    assert "<script>" not in page and '"><b>' not in page


def test_the_kids_link():
    assert kids_page("192.168.1.2:8080") == "http://192.168.1.2:8080/kids"
    assert kids_page("https://box.home/") == "https://box.home/kids"
    assert (
        kids_link("https://box.home/kids?lang=en", "a.b")
        == "https://box.home/kids?lang=en&site=a.b"
    )
