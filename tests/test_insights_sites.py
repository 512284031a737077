"""Sites by registrable domain, infrastructure left out; apps matched before sites; STUN/TURN."""

from __future__ import annotations

import pytest

from agent.insights.sites import INFRASTRUCTURE, SiteNamer
from agent.insights.things import Classifier, LocalClock
from agent.insights.webrtc import STUN_TURN_HOSTS, call_app, is_stun_turn
from agent.rules.catalog import load_catalog

SITES = SiteNamer()
CLASSIFY = Classifier(load_catalog())


@pytest.mark.parametrize(
    ("name", "site"),
    [
        ("www.bbc.co.uk", "bbc.co.uk"),
        ("news.bbc.co.uk", "bbc.co.uk"),
        ("en.wikipedia.org", "wikipedia.org"),
        ("coolmathgames.com", "coolmathgames.com"),
        ("a.b.c.example.com.au", "example.com.au"),
        ("someone.github.io", "github.io"),  # ICANN suffixes only: one site per platform
        ("co.uk", None),  # a public suffix is not a site
        ("localhost", None),
        ("printer.local", None),
        ("1.1.168.192.in-addr.arpa", None),
        ("_dns.resolver.arpa", None),
        ("time.apple.com", None),  # infrastructure
        ("d1234.cloudfront.net", None),
        ("connectivitycheck.gstatic.com", None),
        ("settings-win.data.microsoft.com", None),
    ],
)
def test_site(name: str, site: str | None) -> None:
    assert SITES.site(name) == site


def test_infrastructure_entries_are_registrable_domains() -> None:
    for domain in INFRASTRUCTURE:
        assert SITES.registrable(domain) == domain, domain


@pytest.mark.parametrize(
    ("name", "app", "thing"),
    [
        ("anything.example", "discord", ("app", "discord")),  # the log's app wins
        ("www.youtube.com", None, ("app", "youtube")),  # a safe-search rewrite names no app
        ("rr3---sn-abc.googlevideo.com", None, ("app", "youtube")),
        ("www.bbc.co.uk", None, ("site", "bbc.co.uk")),
        ("stun.l.google.com", None, None),  # call set-up, not a site
        ("gateway.icloud.com", None, None),
    ],
)
def test_classifier(name: str, app: str | None, thing: tuple[str, str] | None) -> None:
    assert CLASSIFY.thing(name, app) == thing


@pytest.mark.parametrize(
    ("name", "stun"),
    [
        ("stun.l.google.com", True),
        ("stun3.l.google.com", True),
        ("global.stun.twilio.com", True),
        ("stun.cloudflare.com", True),
        ("wide-youtube.l.google.com", False),  # YouTube, not STUN: exact hosts only
        ("cloudflare.com", False),
    ],
)
def test_stun_turn(name: str, stun: bool) -> None:
    assert is_stun_turn(name) is stun


def test_stun_hosts_are_lower_case_names() -> None:
    assert all(h == h.lower() and "." in h for h in STUN_TURN_HOSTS)


def test_call_servers() -> None:
    assert call_app("rotterdam1234.discord.media") == "discord"
    assert call_app("discord.com") is None


def test_local_clock_uses_the_box_timezone() -> None:
    from zoneinfo import ZoneInfo

    clock = LocalClock(ZoneInfo("Europe/London"))
    # 2026-07-01 23:30 UTC is 00:30 on 2 July in London (summer time).
    minute = 1_782_948_600 // 60
    assert clock.at(minute) == ("2026-07-02", 0)
