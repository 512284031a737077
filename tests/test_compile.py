"""Compiling the lists into an index: fingerprints, reports, failing lists, and compiling from
real files and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import BlocklistsConfig, BlocklistSource, Config
from agent.lists.claims import NO_CLAIMS, Claims
from agent.lists.compile import compile_index, fingerprint, load_or_compile
from agent.lists.index import ListIndex
from agent.lists.sources import cached_copy

from listserver import ListServer, serving


def claims(
    categories: set[str], sources: set[str], matched: str, apps: frozenset[str] = frozenset()
) -> Claims:
    return Claims(frozenset(categories), frozenset(apps), frozenset(sources), matched)


def make_config(tmp_path: Path, *sources: BlocklistSource) -> Config:
    lists_cfg = BlocklistsConfig(sources=sources, compiled_dir=Path("data/index"))
    return Config(blocklists=lists_cfg, base_dir=tmp_path)


def write(path: Path, text: str, mtime_ns: int | None = None) -> Path:
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def test_fingerprint_follows_the_sources(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "a.example.com\n", 1_000_000_000)
    source = BlocklistSource(name="a", category="adult", path=Path("a.txt"))
    cfg = make_config(tmp_path, source)
    first = fingerprint(cfg.blocklists.sources, cfg)
    assert fingerprint(cfg.blocklists.sources, cfg) == first
    assert fingerprint(cfg.blocklists.sources, cfg, "catalogue-v2") != first
    recategorised = BlocklistSource(name="a", category="gambling", path=Path("a.txt"))
    assert fingerprint((recategorised,), cfg) != first
    write(path, "b.example.com\n", 1_000_000_000)  # same size and time: same state
    assert fingerprint(cfg.blocklists.sources, cfg) == first
    write(path, "b.example.com\n", 2_000_000_000)
    second = fingerprint(cfg.blocklists.sources, cfg)
    assert second != first
    write(path, "bb.example.com\n", 2_000_000_000)
    assert fingerprint(cfg.blocklists.sources, cfg) not in (first, second)
    path.unlink()
    assert fingerprint(cfg.blocklists.sources, cfg) not in (first, second)


def test_compile_index_unions_lists_and_app_entries(tmp_path: Path) -> None:
    write(tmp_path / "adult.txt", "0.0.0.0 example.com\n0.0.0.0 porn.example.net\n")
    write(tmp_path / "bets.txt", "[Adblock Plus]\n||example.com^\n@@||ok.example.com^\n")
    cfg = make_config(
        tmp_path,
        BlocklistSource(name="adult-list", category="adult", path=Path("adult.txt")),
        BlocklistSource(name="bets", category="gambling", path=Path("bets.txt")),
    )
    extra = [("tiktok.com", "apps", "social", "tiktok")]
    index, report = compile_index(cfg, extra, "catalogue-1")
    assert report.complete and [s.status for s in report.sources] == ["ok", "ok"]
    assert (report.names, report.extra_names) == (4, 1)
    assert index.lookup("www.example.com").categories == {"adult", "gambling"}
    assert index.lookup("ok.example.com") == claims({"adult"}, {"adult-list"}, "example.com")
    assert index.lookup("v.tiktok.com").apps == {"tiktok"}
    saved = ListIndex.load(tmp_path / "data" / "index")
    assert saved.fingerprint == fingerprint(cfg.blocklists.sources, cfg, "catalogue-1")
    assert saved.lookup("porn.example.net").sources == {"adult-list"}
    lines = report.summary()
    assert lines[0].startswith("list adult-list [ok] hosts: 2 names, 0 exceptions")
    assert lines[1].startswith("list bets [ok] adblock: 1 names, 1 exceptions")
    assert lines[2].startswith("index: 4 names (1 from the app catalogue)")


def test_a_failing_list_is_reported_and_left_out(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "good-list.example.com\n")
    write(tmp_path / "page.txt", "<html>\n<body>Not Found</body>\n</html>\n")
    cfg = make_config(
        tmp_path,
        BlocklistSource(name="good", category="adult", path=Path("good.txt")),
        BlocklistSource(name="missing", category="adult", path=Path("missing.txt")),
        BlocklistSource(name="page", category="adult", path=Path("page.txt")),
    )
    index, report = compile_index(cfg)
    assert [s.status for s in report.sources] == ["ok", "failed", "failed"]
    assert not report.complete and [s.name for s in report.failed] == ["missing", "page"]
    assert "cannot read" in report.sources[1].message and "missing.txt" in report.sources[1].message
    assert "web page" in report.sources[2].message
    assert index.lookup("good-list.example.com").sources == {"good"}
    assert "INCOMPLETE" in report.summary()[-1] and not index.complete
    # the next start uses it as it is, marked incomplete so the caller can retry later
    again, report = load_or_compile(cfg)
    assert report is None and not again.complete and again.lookup("good-list.example.com")
    # once the missing list appears, the sources differ and the next start compiles
    write(tmp_path / "missing.txt", "found.example.com\n")
    write(tmp_path / "page.txt", "page.example.com\n")
    again, report = load_or_compile(cfg)
    assert report is not None and report.complete and again.complete
    assert again.lookup("www.found.example.com").sources == {"missing"}


def test_load_or_compile_reuses_a_matching_index(tmp_path: Path) -> None:
    path = write(tmp_path / "list.txt", "one.example.com\n", 1_000_000_000)
    cfg = make_config(tmp_path, BlocklistSource(name="l", category="adult", path=Path("list.txt")))
    index, report = load_or_compile(cfg, [("app.example", "apps", "social", "x")], "cat-1")
    assert report is not None and index.lookup("one.example.com")
    index, report = load_or_compile(cfg, [("app.example", "apps", "social", "x")], "cat-1")
    assert report is None and index.lookup("app.example").apps == {"x"}
    index, report = load_or_compile(cfg, [], "cat-2")  # the catalogue changed
    assert report is not None and not index.lookup("app.example")
    write(path, "two.example.com\n", 2_000_000_000)  # the list changed
    index, report = load_or_compile(cfg, [], "cat-2")
    assert report is not None
    assert index.lookup("two.example.com") and not index.lookup("one.example.com")


def test_load_or_compile_in_a_child_process(tmp_path: Path) -> None:
    write(tmp_path / "list.txt", "child.example.com\n")
    cfg = make_config(tmp_path, BlocklistSource(name="l", category="adult", path=Path("list.txt")))
    index, report = load_or_compile(cfg, [("app.example", "apps", "social", "x")], in_child=True)
    assert report is not None and report.complete and report.names == 2
    assert index.lookup("www.child.example.com").sources == {"l"}
    assert load_or_compile(cfg, [("app.example", "apps", "social", "x")])[1] is None


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ListServer]:
    with serving(monkeypatch) as srv:
        yield srv


def test_a_url_list_falls_back_to_its_last_good_copy(tmp_path: Path, server: ListServer) -> None:
    source = BlocklistSource(name="remote", category="adult", url=server.url + "/l.txt")
    never = BlocklistSource(name="never", category="adult", url=server.url + "/never.txt")
    cfg = make_config(tmp_path, source, never)
    server.routes["/l.txt"] = (200, b"||remote.example.com^\n")
    index, report = compile_index(cfg)
    assert [s.status for s in report.sources] == ["ok", "failed"]
    assert index.lookup("a.remote.example.com").sources == {"remote"}
    server.routes["/l.txt"] = (503, b"busy")
    index, report = compile_index(cfg)
    first = report.sources[0]
    assert first.status == "stale" and "503" in first.message and "using the copy" in first.message
    assert index.lookup("a.remote.example.com").sources == {"remote"}
    assert cached_copy(source, cfg) is not None and cached_copy(never, cfg) is None
    assert report.sources[1].status == "failed" and not report.complete


def test_the_default_config_compiles_the_shipped_bypass_list(tmp_path: Path) -> None:
    index, report = compile_index(Config(base_dir=tmp_path))
    assert report.complete and report.sources[0].stats is not None
    assert report.sources[0].stats.junk == 0
    assert index.lookup("mozilla.cloudflare-dns.com").categories == {"bypass"}
    assert index.lookup("dns.google").matched == "dns.google"
    for everyday in ("google.com", "www.google.com", "apple.com", "icloud.com", "mozilla.org"):
        assert index.lookup(everyday) is NO_CLAIMS
