"""The 'what to do if' guides: content checks, loading and the terminal format."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.talk.guides import Route, format_guide, guide, load_help, topics
from agent.talk.letters import ContentError, load_letters

BOOK = load_help()
LETTERS = load_letters()


def _flat(text: str) -> str:
    """Text with all runs of whitespace made single spaces, so wrapped lines compare equal."""
    return " ".join(text.split())


def test_required_guides_exist() -> None:
    required = {"child-tells-you", "upsetting-image", "sextortion", "bullying", "block-and-report"}
    assert required <= set(topics())


@pytest.mark.parametrize("g", BOOK.guides, ids=lambda g: g.id)
def test_every_guide_has_steps_routes_and_known_sources(g) -> None:
    assert g.title and g.summary and g.steps
    assert g.routes
    assert g.sources and all(letter.file in LETTERS for letter in g.sources)


@pytest.mark.parametrize("route", BOOK.routes.values(), ids=lambda r: r.id)
def test_every_route_says_how_and_when(route: Route) -> None:
    assert route.how and route.when
    assert route.url is None or route.url.startswith("https://")


@pytest.mark.parametrize(
    ("route_id", "phone", "url_part"),
    [
        ("police-999", "999", None),
        ("police-101", "101", None),
        ("childline", "0800 1111", "childline.org.uk"),
        ("nspcc", "0808 800 5000", "nspcc.org.uk"),
        ("ceop", None, "ceop.police.uk"),
        ("iwf", None, "iwf.org.uk"),
        ("report-harmful-content", None, "reportharmfulcontent.com"),
        ("fearless", None, "fearless.org"),
    ],
)
def test_routes_carry_the_right_numbers_and_addresses(route_id, phone, url_part) -> None:
    route = BOOK.routes[route_id]
    assert route.phone == phone
    assert url_part is None or url_part in (route.url or "")


def test_sextortion_guide_covers_the_essentials() -> None:
    g = guide("sextortion")
    assert {"ceop", "police-999", "police-101", "childline"} <= {r.id for r in g.routes}
    text = _flat(" ".join(g.steps)).lower()
    assert "don't pay" in text and "screenshot" in text and "not to blame" in text


def test_upsetting_image_guide_says_report_then_delete_and_dont_forward() -> None:
    steps = [s.lower() for s in guide("upsetting-image").steps]
    report = next(i for i, s in enumerate(steps) if "report it" in s)
    delete = next(i for i, s in enumerate(steps) if "delete" in s)
    assert report < delete
    assert any("don't forward" in s for s in steps)
    assert any("not in trouble" in s for s in steps)


def test_block_and_report_covers_the_main_apps() -> None:
    names = {a.name for a in guide("block-and-report").apps}
    wanted = {"TikTok", "YouTube", "Snapchat", "Instagram", "WhatsApp", "Discord", "Roblox"}
    assert wanted | {"Minecraft", "Fortnite", "Twitch"} <= names
    for app in guide("block-and-report").apps:
        assert app.help_url is None or app.help_url.startswith("https://")


def test_format_guide_shows_steps_routes_and_sources() -> None:
    g = guide("sextortion")
    out = format_guide(g)
    flat = _flat(out)
    assert out.startswith(g.title)
    for needle in ("0800 1111", "999", "101", "https://www.ceop.police.uk/Safety-Centre/"):
        assert needle in out
    for step in g.steps:
        assert _flat(step) in flat
    for letter in g.sources:
        assert _flat(letter.citation) in flat and letter.file not in flat  # named, not a file
    assert max(len(line) for line in out.splitlines() if "http" not in line) <= 88


def test_format_guide_lists_app_steps_for_block_and_report() -> None:
    out = _flat(format_guide(guide("block-and-report")))
    for app in guide("block-and-report").apps:
        assert _flat(app.steps) in out


def test_unknown_topic_raises_key_error() -> None:
    with pytest.raises(KeyError):
        guide("no-such-guide")


GOOD_ROUTE = '[routes.r]\nname = "R"\nphone = "101"\nwhen = "now"\n'


def _guide_toml(routes: str = '["r"]', sources: str = '["004_4cd3c2d600256b4c.txt"]') -> str:
    return (
        f'{GOOD_ROUTE}\n[[guides]]\nid = "g"\ntitle = "T"\nsummary = "S"\nsteps = ["one"]\n'
        f"routes = {routes}\nsources = {sources}\n"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (_guide_toml(routes='["nowhere"]'), "guide 'g': routes"),
        (_guide_toml(sources='["999_0000000000000000.txt"]'), "guide 'g': sources"),
        (_guide_toml(sources="[]"), "guide 'g': sources"),
        ('[routes.r]\nname = "R"\nwhen = "now"\n', "route 'r': needs a phone, url or contact"),
    ],
)
def test_load_help_rejects_mistakes(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "help.toml"
    path.write_text(text)
    with pytest.raises(ContentError, match=expected):
        load_help(path)


def test_load_help_reads_a_small_file(tmp_path: Path) -> None:
    path = tmp_path / "help.toml"
    path.write_text(_guide_toml())
    book = load_help(path)
    assert book.get("g").routes[0].how == "call 101"


def test_the_self_harm_guide_gives_every_helpline_with_its_own_source() -> None:
    g = guide("self-harm")
    by_id = {r.id: r for r in g.routes}
    expected = {
        "samaritans": "116 123",
        "childline-self-harm": "0800 1111",
        "papyrus": "0800 068 4141",
    }
    for rid, number in expected.items():
        assert by_id[rid].phone == number and by_id[rid].source
    assert by_id["shout"].contact == "text SHOUT to 85258" and by_id["shout"].source
    assert by_id["police-999"].phone == "999"
    words = " ".join(g.steps + g.avoid).lower()
    for approach in ("calm", "believe", "nothing is their fault", "stay with them", "blame"):
        assert approach in words, approach
    assert [s.citation for s in g.sources] == ["Rackham school, Cambridgeshire, June 2020"]


def test_no_letter_is_named_by_its_file_or_as_a_school_alone() -> None:
    from agent.talk.letters import load_letters

    for letter in load_letters().values():
        assert ".txt" not in letter.citation
        assert not letter.citation.lower().startswith(("a school", "a primary school"))
