"""Blocklist parsing: every format, mixed and broken lines, and detecting the format."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from agent.lists.parse import detect_format, normalise, parse_lines


def counts(text: str, fmt: str | None = None) -> dict[str, object]:
    stats = asdict(parse_lines(text.splitlines(), fmt).stats)
    stats.pop("junk_examples")
    stats.pop("looks_like_html")
    return {k: v for k, v in stats.items() if v}


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Example.COM.", "example.com"),
        ("  ads.example.net \n", "ads.example.net"),
        ("youtube", "youtube"),  # brand top-level domains are real entries
        ("_dmarc.example.org", "_dmarc.example.org"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("BÜCHER.de", "xn--bcher-kva.de"),
        ("straße.de", "xn--strae-oqa.de"),  # browsers keep ß; IDNA 2003 would give strasse.de
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("a" * 63 + ".com", "a" * 63 + ".com"),
        ("a" * 64 + ".com", None),
        ("x." * 125 + "abc", "x." * 125 + "abc"),  # 253 characters: the most DNS allows
        ("x." * 125 + "abcd", None),
        ("a..b.com", None),
        ("example.com..", None),
        ("exa mple.com", None),
        ("ex!ample.com", None),
        ("1.2.3.4", None),
        ("::1", None),
        ("[2001:db8::1]", None),
        ("", None),
        ("bad\ufffdname.com", None),
    ],
)
def test_normalise(raw: str, expected: str | None) -> None:
    assert normalise(raw) == expected


def test_hosts_file_with_header_several_names_and_comments() -> None:
    text = """# Title: a hosts file
127.0.0.1 localhost
127.0.0.1 localhost.localdomain
255.255.255.255 broadcasthost
::1 localhost ip6-localhost ip6-loopback
fe80::1%lo0 localhost
0.0.0.0 0.0.0.0

0.0.0.0 ads.example.com  # the ad server
0.0.0.0 Tracker.Example.NET pixel.example.org
127.0.0.1 ads.example.com
:: ipv6.example.com
0.0.0.0 10.0.0.1
"""
    parsed = parse_lines(text.splitlines())
    assert parsed.blocked == [
        "ads.example.com",
        "tracker.example.net",
        "pixel.example.org",
        "ipv6.example.com",
    ]
    assert counts(text) == {
        "format": "hosts",
        "lines": 13,
        "entries": 4,
        "comments": 1,
        "blank": 1,
        "localhost": 8,
        "ips": 1,
        "duplicates": 1,
    }


def test_domains_file_with_wildcards_and_duplicates() -> None:
    text = """# a plain domain list
example.com
*.wild.example.org
WILD.example.org
trailing.example.net.
partly*.example.com
not a name at all
single-label-brand
"""
    parsed = parse_lines(text.splitlines())
    assert parsed.blocked == [
        "example.com",
        "wild.example.org",
        "trailing.example.net",
        "single-label-brand",
    ]
    assert counts(text) == {
        "format": "domains",
        "lines": 8,
        "entries": 4,
        "comments": 1,
        "duplicates": 1,
        "unsupported": 1,
        "junk": 1,
    }


def test_adblock_rules_exceptions_and_unsupported_rules() -> None:
    text = """[Adblock Plus 2.0]
! Title: a DNS filter
! Version: 1
||ads.example.com^
||ads.example.com^
||tracker.example.net^$important
||*.wild.example.org^
@@||good.example.com^
||popup.example.com^$third-party,popup
||narrow.example.com^$denyallow=a.com
||path.example.com/banner.js
|https://exact.example.com/
/ads[0-9]+\\./
example.org##.banner
##.ad-box
||ad*.example.com^
||192.0.2.1^
||localhost^
plain.example.net
"""
    parsed = parse_lines(text.splitlines())
    assert parsed.blocked == [
        "ads.example.com",
        "tracker.example.net",
        "wild.example.org",
        "popup.example.com",
        "plain.example.net",
    ]
    assert parsed.exceptions == ["good.example.com"]
    assert counts(text) == {
        "format": "adblock",
        "lines": 19,
        "entries": 5,
        "exceptions": 1,
        "comments": 3,
        "duplicates": 1,
        "unsupported": 7,
        "ips": 1,
        "localhost": 1,
    }


def test_mixed_file_takes_every_syntax() -> None:
    text = "example.com\n0.0.0.0 hosts.example.com\n||rule.example.com^\n@@||ok.example.com^\n"
    parsed = parse_lines(text.splitlines(), "domains")
    assert parsed.blocked == ["example.com", "hosts.example.com", "rule.example.com"]
    assert parsed.exceptions == ["ok.example.com"]
    assert parsed.stats.junk == 0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("# c\n0.0.0.0 a.com\n0.0.0.0 b.com\n", "hosts"),
        ("127.0.0.1 localhost\n::1 localhost\na.com\nb.com\nc.com\n", "domains"),
        ("# c\na.com\nb.com\n", "domains"),
        ("[Adblock Plus]\n||a.com^\n", "adblock"),
        ("! comment\na.com\n", "adblock"),
        ("a.com\n||b.com^\n", "adblock"),
        ("", "domains"),
    ],
)
def test_detect_format(text: str, expected: str) -> None:
    assert detect_format(text.splitlines()) == expected


def test_detection_looks_past_a_long_header() -> None:
    text = "# licence text\n" * 300 + "0.0.0.0 a.example.com\n0.0.0.0 b.example.com\n"
    assert parse_lines(text.splitlines()).stats.format == "hosts"


def test_an_unknown_format_hint_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="unknown list format 'dnsmasq'"):
        parse_lines(["a.com"], "dnsmasq")


def test_format_hint_changes_how_hash_is_read() -> None:
    # in adblock rules `##` hides page elements; in a domains file it is a comment
    assert counts("a.com\n##.ad\n", "adblock")["unsupported"] == 1
    assert counts("a.com\n##.ad\n", "domains")["comments"] == 1
