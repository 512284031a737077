"""The compiled name index: suffix claims, exceptions, saving and mapping, fingerprints, and
compiling from real files and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.claims import NO_CLAIMS, Claims
from agent.config import BlocklistsConfig, BlocklistSource, Config
from agent.index import (
    IndexBuilder,
    IndexLoadError,
    ListIndex,
    compile_index,
    fingerprint,
    load_or_compile,
)
from agent.lists import cached_copy


def claims(
    categories: set[str], sources: set[str], matched: str, apps: frozenset[str] = frozenset()
) -> Claims:
    return Claims(frozenset(categories), frozenset(apps), frozenset(sources), matched)


@pytest.fixture
def index() -> ListIndex:
    b = IndexBuilder()
    b.add_many(["example.com", "tracker.example.net", "youtube"], "adult-list", "adult")
    b.add("example.com", "other-list", "gambling")
    b.add("deep.a.example.com", "other-list", "gambling")
    b.add("tiktok.com", "apps", "social", "tiktok")
    b.add("tiktokcdn.com", "apps", "social", "tiktok")
    b.add("tiktokcdn.com", "apps", "video", "capcut")
    # adult-list lists example.com but makes an exception below it, and lists a name under
    # the exception too: the exception wins for that list, as in adblock rules
    b.add_exception("good.example.com", "adult-list")
    b.add("x.good.example.com", "adult-list", "adult")
    b.add_exception("allowed-only.example.org", "adult-list")
    return b.build("test")


BOTH = {"adult-list", "other-list"}


@pytest.mark.parametrize(
    "name, expected",
    [
        ("example.com", claims({"adult", "gambling"}, BOTH, "example.com")),
        ("www.example.com", claims({"adult", "gambling"}, BOTH, "example.com")),
        ("a.b.c.example.com", claims({"adult", "gambling"}, BOTH, "example.com")),
        ("deep.a.example.com", claims({"adult", "gambling"}, BOTH, "deep.a.example.com")),
        ("badexample.com", NO_CLAIMS),
        ("example.co", NO_CLAIMS),
        ("com", NO_CLAIMS),
        ("xample.com", NO_CLAIMS),
        ("tracker.example.net", claims({"adult"}, {"adult-list"}, "tracker.example.net")),
        ("example.net", NO_CLAIMS),
        ("youtube", claims({"adult"}, {"adult-list"}, "youtube")),
        ("www.youtube", claims({"adult"}, {"adult-list"}, "youtube")),
        ("youtube.com", NO_CLAIMS),
        ("good.example.com", claims({"gambling"}, {"other-list"}, "example.com")),
        ("sub.good.example.com", claims({"gambling"}, {"other-list"}, "example.com")),
        ("x.good.example.com", claims({"gambling"}, {"other-list"}, "example.com")),
        ("notgood.example.com", claims({"adult", "gambling"}, BOTH, "example.com")),
        ("allowed-only.example.org", NO_CLAIMS),
        ("v16.tiktok.com", claims({"social"}, {"apps"}, "tiktok.com", frozenset({"tiktok"}))),
        (
            "p.tiktokcdn.com",
            claims({"social", "video"}, {"apps"}, "tiktokcdn.com", frozenset({"tiktok", "capcut"})),
        ),
        ("", NO_CLAIMS),
    ],
)
def test_lookup(index: ListIndex, name: str, expected: Claims) -> None:
    assert index.lookup(name) == expected
    assert index.lookup(name) == expected  # the second answer comes from the memo


def test_counts(index: ListIndex) -> None:
    # every listed name, exception-only names included
    assert len(index) == 9
    assert index.sources == {"adult-list": 4, "other-list": 2, "apps": 2}
    assert index.stats["names"] == 9 and index.stats["fingerprint"] == "test"


def test_empty_index_claims_nothing(tmp_path: Path) -> None:
    empty = ListIndex.empty()
    assert len(empty) == 0 and empty.lookup("example.com") is NO_CLAIMS
    empty.save(tmp_path / "index")
    assert len(ListIndex.load(tmp_path / "index")) == 0


def mapped_files() -> str:
    return Path("/proc/self/maps").read_text()


def test_save_and_load_round_trip_through_mmap(index: ListIndex, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    index.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["claims.bin", "meta.json", "names.marisa"]
    loaded = ListIndex.load(folder)
    for name in ("www.example.com", "x.good.example.com", "p.tiktokcdn.com", "badexample.com"):
        assert loaded.lookup(name) == index.lookup(name)
    assert (len(loaded), loaded.sources, loaded.fingerprint) == (9, index.sources, "test")
    if os.path.exists("/proc/self/maps"):  # the files are mapped, not read into memory
        maps = mapped_files()
        assert str(folder / "names.marisa") in maps and str(folder / "claims.bin") in maps


def test_save_replaces_a_previous_index_whole(index: ListIndex, tmp_path: Path) -> None:
    folder = tmp_path / "index"
    index.save(folder)
    old = ListIndex.load(folder)
    b = IndexBuilder()
    b.add("new.example.org", "new-list", "malware")
    b.build("second").save(folder)
    assert ListIndex.load(folder).lookup("new.example.org").sources == {"new-list"}
    assert ListIndex.load(folder).lookup("example.com") is NO_CLAIMS
    # an index mapped before the swap keeps answering from the replaced files
    assert old.lookup("www.example.com").sources == BOTH
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no temporary folders left


def test_many_claim_sets_use_wider_ids(tmp_path: Path) -> None:
    b = IndexBuilder()
    for i in range(300):  # 300 distinct claim sets do not fit in one byte
        b.add(f"app{i}.example.com", "apps", "social", f"app{i}")
    built = b.build()
    built.save(tmp_path / "index")
    loaded = ListIndex.load(tmp_path / "index")
    meta = json.loads((tmp_path / "index" / "meta.json").read_text())
    assert meta["typecode"] == "H"
    assert loaded.lookup("x.app299.example.com").apps == {"app299"}
    assert loaded.lookup("app7.example.com").apps == {"app7"}


@pytest.mark.parametrize(
    "damage",
    [
        lambda folder: (folder / "names.marisa").unlink(),
        lambda folder: (folder / "meta.json").write_text("{not json"),
        lambda folder: (folder / "claims.bin").write_bytes(b"\x00"),
        lambda folder: (folder / "meta.json").write_text(
            json.dumps({**json.loads((folder / "meta.json").read_text()), "version": 0})
        ),
    ],
)
def test_a_damaged_index_does_not_load(
    index: ListIndex, tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    folder = tmp_path / "index"
    index.save(folder)
    damage(folder)
    with pytest.raises(IndexLoadError, match=str(folder)):
        ListIndex.load(folder)


def test_a_missing_index_does_not_load(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError):
        ListIndex.load(tmp_path / "nothing")


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


class ListServer:
    """A real HTTP server on 127.0.0.1 whose answers a test sets per path."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, bytes]] = {}
        routes = self.routes

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                status, body = routes.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ListServer]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    srv = ListServer()
    thread = threading.Thread(
        target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()
    thread.join()


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
