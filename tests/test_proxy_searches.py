"""Search terms from results pages of the engines in the safe-search data."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from agent.proxy.searches import MAX_TERMS, engines_from

from proxytools import SAFESEARCH

ENGINES = engines_from(SAFESEARCH)


def find(url: str):
    parts = urlsplit(url)
    return ENGINES.find(parts.hostname or "", parts.path, dict(parse_qsl(parts.query)))


@pytest.mark.parametrize(
    ("url", "engine", "terms"),
    [
        ("https://www.google.com/search?q=how+to+draw+a+cat&hl=en", "google", "how to draw a cat"),
        ("https://www.google.co.uk/search?q=%20volcano%20%20facts%20", "google", "volcano facts"),
        ("https://www.bing.com/search?q=minecraft+seeds", "bing", "minecraft seeds"),
        ("https://duckduckgo.com/?q=homework+help&t=h_", "duckduckgo", "homework help"),
        ("https://duckduckgo.com/html/?q=owls", "duckduckgo", "owls"),
        ("https://www.youtube.com/results?search_query=lego+tips", "youtube", "lego tips"),
    ],
)
def test_a_results_page_gives_the_engine_and_the_words(url, engine, terms):
    search = find(url)
    assert (search.engine, search.terms) == (engine, terms)
    assert search.engine_name


@pytest.mark.parametrize(
    "url",
    [
        "https://www.google.com/complete/search?q=how+to",  # suggestions while typing
        "https://www.google.com/search?tbm=isch",  # no words
        "https://www.google.com/search?q=+++",
        "https://www.google.com/maps?q=london",
        "https://www.youtube.com/watch?v=abc",
        "https://example.com/search?q=cats",
    ],
)
def test_other_pages_are_not_searches(url):
    assert find(url) is None


def test_long_terms_are_cut():
    assert len(find("https://www.bing.com/search?q=" + "a" * 500).terms) == MAX_TERMS
