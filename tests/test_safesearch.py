"""Safe-search rewrites: exact names, the YouTube levels, unsafe engines, and file checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.rules.safesearch import (
    DEFAULT_PATH,
    YOUTUBE_LEVELS,
    SafeSearch,
    SafeSearchError,
    load_safesearch,
)

GOOGLE = ("google", "forcesafesearch.google.com")
STRICT = ("youtube", "restrict.youtube.com")
MODERATE = ("youtube", "restrictmoderate.youtube.com")
BING = ("bing", "strict.bing.com")
DDG = ("duckduckgo", "safe.duckduckgo.com")


@pytest.fixture(scope="module")
def safe() -> SafeSearch:
    return load_safesearch()


def test_default_path_is_the_repository_file(safe: SafeSearch) -> None:
    assert Path(__file__).resolve().parent.parent / "blocklists" / "safesearch.toml" == DEFAULT_PATH
    assert load_safesearch(DEFAULT_PATH).fingerprint == safe.fingerprint


def test_engines(safe: SafeSearch) -> None:
    assert {"google", "youtube", "bing", "duckduckgo"} <= set(safe.engines)
    assert safe.engines["youtube"].levels == {
        "strict": "restrict.youtube.com",
        "moderate": "restrictmoderate.youtube.com",
    }
    assert all(e.evidence and e.source for e in safe.engines.values())


@pytest.mark.parametrize(
    ("name", "level", "expected"),
    [
        ("www.google.co.uk", "strict", GOOGLE),
        ("www.google.co.uk", "moderate", GOOGLE),
        ("www.google.co.uk", "off", GOOGLE),
        ("www.google.com", "off", GOOGLE),
        ("www.google.de", "strict", GOOGLE),
        ("www.youtube.com", "strict", STRICT),
        ("www.youtube.com", "moderate", MODERATE),
        ("www.youtube.com", "off", None),
        ("m.youtube.com", "strict", STRICT),
        ("youtubei.googleapis.com", "moderate", MODERATE),
        ("youtube.googleapis.com", "strict", STRICT),
        ("www.youtube-nocookie.com", "strict", STRICT),
        ("www.bing.com", "off", BING),
        ("edgeservices.bing.com", "strict", BING),
        ("cn.bing.com", "strict", BING),
        ("html.duckduckgo.com", "strict", DDG),
        ("lite.duckduckgo.com", "moderate", DDG),
        ("ipv6.google.com", "strict", ("google", "forcesafesearch.google.com")),
        ("duckduckgo.com", "strict", DDG),
        ("www.duckduckgo.com", "off", DDG),
        ("start.duckduckgo.com", "moderate", DDG),
        ("www.ecosia.org", "strict", ("ecosia", "strict-safe-search.ecosia.org")),
        ("yandex.ru", "strict", ("yandex", "familysearch.yandex.ru")),
        # exact names only: nothing below or beside a listed name is rewritten
        ("mail.google.com", "strict", None),
        ("google.co.uk", "strict", None),
        ("www.google.co.uk.evil.example", "strict", None),
        ("youtube.com", "strict", None),
        ("bing.com", "strict", None),
        ("www.youtubekids.com", "strict", None),
        ("example.org", "strict", None),
    ],
)
def test_target(safe: SafeSearch, name: str, level: str, expected: tuple[str, str] | None) -> None:
    assert safe.target(name, level) == expected


def test_unknown_level_is_an_error(safe: SafeSearch) -> None:
    assert YOUTUBE_LEVELS == ("strict", "moderate", "off")
    with pytest.raises(ValueError, match="YouTube level"):
        safe.target("www.youtube.com", "medium")


def test_hostnames_for(safe: SafeSearch) -> None:
    google = safe.hostnames_for("google")
    others = {"ipv4.google.com", "ipv6.google.com", "encrypted.google.com"}
    assert len(google - others) == 194 and others < google
    assert all(h.startswith("www.google.") for h in google - others)
    assert safe.hostnames_for("youtube") == {
        "www.youtube.com",
        "m.youtube.com",
        "youtubei.googleapis.com",
        "youtube.googleapis.com",
        "www.youtube-nocookie.com",
    }
    assert safe.hostnames_for("bing") == {
        "www.bing.com",
        "edgeservices.bing.com",
        "cn.bing.com",
    }
    with pytest.raises(KeyError):
        safe.hostnames_for("altavista")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("startpage.com", "startpage.com"),
        ("www.startpage.com", "startpage.com"),
        ("search.yahoo.com", "search.yahoo.com"),
        ("uk.search.yahoo.com", "search.yahoo.com"),
        ("yahoo.com", None),
        ("mystartpage.com", None),
        ("www.google.com", None),
    ],
)
def test_unsafe_engine_matches_by_suffix(safe: SafeSearch, name: str, expected: str | None) -> None:
    assert safe.unsafe_engine(name) == expected


def test_no_rewritten_name_is_also_unsafe(safe: SafeSearch) -> None:
    for engine in safe.engines.values():
        assert not any(safe.unsafe_engine(h) for h in engine.hostnames), engine.id


def test_fallback_ips(safe: SafeSearch) -> None:
    assert safe.fallback_ips("restrict.youtube.com") == ("216.239.38.120",)
    assert safe.fallback_ips("restrictmoderate.youtube.com") == ("216.239.38.119",)
    assert "216.239.38.120" in safe.fallback_ips("forcesafesearch.google.com")
    assert safe.fallback_ips("safesearch.pixabay.com") == ()


# --- validation -------------------------------------------------------------------------------

ENGINE = """
[engines.{id}]
name = "Engine"
{target}
hostnames = {hostnames}
source = "somewhere"
evidence = "secondary-source"
evidence_note = "seen there"
{extra}
"""


def engine(
    eid: str = "findit",
    target: str = 'target = "safe.findit.example"',
    hostnames: str = '["www.findit.example"]',
    extra: str = "",
) -> str:
    return ENGINE.format(id=eid, target=target, hostnames=hostnames, extra=extra)


def load_text(tmp_path: Path, text: str) -> SafeSearch:
    path = tmp_path / "safesearch.toml"
    path.write_text(text)
    return load_safesearch(path)


def test_a_valid_minimal_file_loads(tmp_path: Path) -> None:
    safe = load_text(tmp_path, engine())
    assert safe.target("www.findit.example", "off") == ("findit", "safe.findit.example")
    assert safe.unsafe_engines == frozenset()


@pytest.mark.parametrize(
    ("text", "field"),
    [
        (engine(target=""), "target"),
        (engine(extra='levels = { strict = "a.example" }'), "target"),
        (engine(target='target = "Safe.Example"'), "target"),
        (engine(target='levels = { medium = "a.example" }'), "levels"),
        (engine(hostnames='["WWW.findit.example"]'), "hostnames"),
        (engine(hostnames='["www.findit.example."]'), "hostnames"),
        (engine(hostnames="[]"), "hostnames"),
        (engine(hostnames='["a.example", "a.example"]'), "hostnames"),
        (engine(extra='target_ipv4 = ["300.1.1.1"]'), "target_ipv4"),
        (engine(extra='colour = "red"'), "colour"),
        (engine(extra='evidence_level = "x"'), "evidence_level"),
        (engine().replace('evidence = "secondary-source"', 'evidence = "hunch"'), "evidence"),
        (engine().replace('source = "somewhere"\n', ""), "source"),
    ],
)
def test_errors_name_the_engine_and_field(tmp_path: Path, text: str, field: str) -> None:
    with pytest.raises(SafeSearchError) as caught:
        load_text(tmp_path, text)
    assert (caught.value.engine, caught.value.field) == ("findit", field)
    assert "'findit'" in str(caught.value)


def test_a_hostname_belongs_to_one_engine(tmp_path: Path) -> None:
    with pytest.raises(SafeSearchError, match="both") as caught:
        load_text(tmp_path, engine() + engine(eid="other"))
    assert caught.value.field == "hostnames"


def test_a_rewritten_name_cannot_also_be_unsafe(tmp_path: Path) -> None:
    text = engine() + '\n[unsafe_engines]\ndomains = ["findit.example"]\n'
    with pytest.raises(SafeSearchError, match="unsafe"):
        load_text(tmp_path, text)


@pytest.mark.parametrize("text", ["[engines", "", "[meta]\nschema_version = 9\n" + engine()])
def test_unusable_files(tmp_path: Path, text: str) -> None:
    with pytest.raises(SafeSearchError):
        load_text(tmp_path, text)
