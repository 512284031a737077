"""Searches recorded through the proxy, on the child's page: the newest first with time,
engine and words, worrying ones marked, and a plain note on what is recorded and why."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from agent.events.searches import Search
from agent.proxy.activity import read_search, search_row
from agent.proxy.clients import Asker
from agent.rules.household import Child
from agent.store import household as store
from agent.store.logwriter import LogEntry, QueryLogWriter

TABLET = "192.168.1.20"


@pytest.fixture
def sam(engine):
    child = store.add_child(engine, "Sam", date(2012, 3, 1))
    store.add_device(engine, ip=TABLET, name="Sam's tablet", owner="child", child_id=child.id)
    return child


def write(tmp_path: Path, rows: list[LogEntry]) -> None:
    """Through the query-log writer, the way the proxy's rows reach the database."""
    writer = QueryLogWriter(tmp_path / "data" / "hr.db")
    writer.start()
    for row in rows:
        assert writer.submit(row)
    assert writer.stop() and writer.written == len(rows)


def searched(sam: Child, ts: float, engine: str, name: str, terms: str) -> LogEntry:
    who = Asker(TABLET, child=sam)
    return search_row(ts, who, f"www.{engine}.com", Search(engine, name, terms))


def test_a_search_row_reads_back_as_the_search_it_records():
    sam = Child(1, "Sam", date(2012, 3, 1))
    for terms in ('how to say "no" nicely', "volcano facts", 'a " for "b"'):
        row = searched(sam, 0.0, "google", "Google Search", terms)
        assert read_search(row) == Search("google", "Google Search", terms)
    dns = LogEntry(0.0, TABLET, None, "Sam", "example.com", "A", "allow", "", "")
    assert read_search(dns) is None


def test_the_childs_page_lists_the_newest_searches_worrying_ones_marked(
    auth, engine, sam, clock, tmp_path
):
    auth.login()
    now = clock().timestamp()
    rows = [
        searched(sam, now - 3600, "google", "Google Search", "volcano facts"),
        searched(sam, now - 600, "bing", "Bing", "how to hide self harm"),
        searched(sam, now - 60, "duckduckgo", "DuckDuckGo", "minecraft seeds"),
        LogEntry(now - 30, TABLET, None, "Sam", "example.com", "A", "allow", "", ""),  # not one
        searched(Child(9, "Alex", date(2016, 1, 1)), now, "google", "Google", "alex's search"),
    ]
    write(tmp_path, rows)
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    section = page[page.index('id="searches"') :]
    section = section[: section.index("</section>")]
    items = section.split("<li")[1:]
    assert len(items) == 3 and "alex" not in section.lower()  # only Sam's, only searches
    assert "DuckDuckGo: “minecraft seeds”" in items[0]  # newest first
    assert "Bing: “how to hide self harm”" in items[1] and 'class="worry"' in items[1]
    assert "Worrying: self-harm" in items[1]
    assert "Google Search: “volcano facts”" in items[2] and "Worrying" not in items[2]
    assert "Wed 18 Nov 17:50" in items[1]  # the time, in the box's time zone
    # the plain note: where, what, how long, and why
    assert "Inspect with the proxy" in section and "only the words searched for" in section
    assert "kept for 30 days" in section and "Nothing is sent anywhere" in section
    assert "houserules " not in section.lower()  # no command for a carer to type


def test_only_the_newest_searches_are_shown(auth, engine, sam, clock, tmp_path):
    auth.login()
    now = clock().timestamp()
    write(tmp_path, [searched(sam, now - i, "google", "Google", f"search {i}") for i in range(30)])
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "“search 0”" in page and "“search 19”" in page and "“search 20”" not in page


def test_no_searches_yet_says_how_they_get_there(auth, sam):
    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "No searches recorded." in page and 'href="/proxy"' in page
