"""Reading blocklist sources: list files (broken, empty, mostly junk) from disk, and downloads
from a real HTTP server on 127.0.0.1 kept as a cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.config import SHIPPED_LISTS, BlocklistsConfig, BlocklistSource, Config
from agent.lists import sources
from agent.lists.parse import ListError, ListRejected
from agent.lists.sources import cached_copy, read_file, read_source

from listserver import ListServer, serving


def test_a_byte_order_mark_does_not_spoil_the_first_line(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("0.0.0.0 first.example.com\n0.0.0.0 second.example.com\n".encode("utf-8-sig"))
    parsed = read_file(path, None, "bom", 0.0)
    assert parsed.blocked == ["first.example.com", "second.example.com"]
    assert parsed.stats.format == "hosts"


def test_idn_names_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "idn.txt"
    path.write_text("bücher.de\n0.0.0.0 пример.рф\n||straße.de^\n", encoding="utf-8")
    parsed = read_file(path, None, "idn", 0.5)
    assert parsed.blocked == ["xn--bcher-kva.de", "xn--e1afmkfd.xn--p1ai", "xn--strae-oqa.de"]


HTML_PAGE = """<!DOCTYPE html>
<html><head><title>404 Not Found</title></head>
<body>
<h1>Not Found</h1>
<p>The requested URL was not found on this server.</p>
<hr>
<address>Apache Server at lists.example.com Port 443</address>
</body></html>
"""


def test_html_error_page_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_text(HTML_PAGE)
    with pytest.raises(ListRejected) as caught:
        read_file(path, None, "adult-list", 0.5)
    message = str(caught.value)
    assert message.startswith("adult-list: ")
    assert "no names found" in message and "It looks like a web page" in message


def test_binary_junk_is_rejected_but_one_broken_byte_is_not(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 40 + b"\nexample.com\n")
    with pytest.raises(ListRejected, match="^binary: .* not valid names"):
        read_file(junk, None, "binary", 0.5)
    mostly_fine = tmp_path / "fine.txt"
    mostly_fine.write_bytes(b"a.example.com\nb\xffroken.example.com\nc.example.com\n")
    parsed = read_file(mostly_fine, None, "fine", 0.5)
    assert parsed.blocked == ["a.example.com", "c.example.com"]
    assert parsed.stats.junk == 1


def test_junk_ratio_threshold_is_the_configured_one(tmp_path: Path) -> None:
    path = tmp_path / "half.txt"
    path.write_text("a.com\nb.com\nnot valid\nalso not valid\nnope nope\n")
    assert read_file(path, None, "half", 0.7).blocked == ["a.com", "b.com"]
    with pytest.raises(ListRejected, match=r"half: 3 of 5 entries"):
        read_file(path, None, "half", 0.5)


def test_a_list_without_names_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_text("# only comments\n127.0.0.1 localhost\n\n")
    with pytest.raises(ListRejected, match="empty-list: no names found"):
        read_file(path, None, "empty-list", 0.5)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(ListError, match=r"mine: cannot read .*nope\.txt"):
        read_file(missing, None, "mine", 0.5)


def config(tmp_path: Path, *sources: BlocklistSource) -> Config:
    lists_cfg = BlocklistsConfig(sources=sources, compiled_dir=Path("data/index"))
    return Config(blocklists=lists_cfg, base_dir=tmp_path)


def test_path_sources_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "list.txt").write_text("a.example.com\n")
    source = BlocklistSource(name="mine", category="adult", path=Path("mine/list.txt"))
    assert read_source(source, config(tmp_path, source)).blocked == ["a.example.com"]


def test_shipped_bypass_list_is_clean() -> None:
    parsed = read_file(SHIPPED_LISTS / "bypass.txt", None, "bypass", 0.0)
    stats = parsed.stats
    assert (stats.format, stats.junk, stats.ips, stats.unsupported) == ("domains", 0, 0, 0)
    assert stats.duplicates == 0 and len(parsed.blocked) > 100
    names = set(parsed.blocked)
    assert {"dns.google", "cloudflare-dns.com", "dns.quad9.net", "nordvpn.com"} <= names
    # the rules engine answers these NXDOMAIN itself, and whole shared domains must not go
    never = {"use-application-dns.net", "mask.icloud.com", "mask-h2.icloud.com", "google.com"}
    never |= {"apple.com", "icloud.com", "opendns.com", "proton.me", "amazonaws.com"}
    assert not names & never


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ListServer]:
    with serving(monkeypatch) as srv:
        yield srv


def test_url_source_is_downloaded_and_cached(tmp_path: Path, server: ListServer) -> None:
    server.routes["/list.txt"] = (200, b"0.0.0.0 a.example.com\n0.0.0.0 b.example.com\n")
    source = BlocklistSource(name="remote list", category="adult", url=server.url + "/list.txt")
    cfg = config(tmp_path, source)
    assert cached_copy(source, cfg) is None
    parsed = read_source(source, cfg)
    assert parsed.blocked == ["a.example.com", "b.example.com"]
    cached = cached_copy(source, cfg)
    assert cached is not None and cached.parent == tmp_path / "data" / "lists"
    assert cached.name.startswith("remote_list-") and cached.suffix == ".txt"
    assert cached.read_bytes() == server.routes["/list.txt"][1]
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]


@pytest.mark.parametrize(
    "status, body, error, message",
    [
        (500, b"oops", ListError, "download failed: the server answered 500 Internal"),
        (404, b"", ListError, "download failed: the server answered 404 Not Found"),
        (200, HTML_PAGE.encode(), ListRejected, "web page"),
        (200, b"# nothing here\n", ListRejected, "no names found"),
    ],
)
def test_a_failed_download_keeps_the_cached_copy(
    tmp_path: Path,
    server: ListServer,
    status: int,
    body: bytes,
    error: type[Exception],
    message: str,
) -> None:
    source = BlocklistSource(name="remote", category="adult", url=server.url + "/list.txt")
    cfg = config(tmp_path, source)
    server.routes["/list.txt"] = (200, b"good.example.com\n")
    read_source(source, cfg)
    server.routes["/list.txt"] = (status, body)
    with pytest.raises(error, match=message) as caught:
        read_source(source, cfg)
    assert str(caught.value).startswith(f"remote ({server.url}/list.txt): ")
    cached = cached_copy(source, cfg)
    assert cached is not None and cached.read_bytes() == b"good.example.com\n"
    assert [p.name for p in cached.parent.iterdir()] == ["remote.txt"]  # no temp file left


def test_a_download_over_the_size_cap_is_refused(
    tmp_path: Path, server: ListServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "MAX_DOWNLOAD_BYTES", 1 << 16)
    server.routes["/big.txt"] = (200, b"a.example.com\n" * 10_000)
    source = BlocklistSource(name="big", category="adult", url=server.url + "/big.txt")
    cfg = config(tmp_path, source)
    with pytest.raises(ListError, match="larger than"):
        read_source(source, cfg)
    assert cached_copy(source, cfg) is None


def test_an_unreachable_server_is_a_list_error(tmp_path: Path, server: ListServer) -> None:
    url = server.url + "/list.txt"
    server.httpd.shutdown()
    server.httpd.server_close()  # nothing listens on that port any more
    source = BlocklistSource(name="gone", category="adult", url=url)
    with pytest.raises(ListError, match="gone .*download failed"):
        read_source(source, config(tmp_path, source))
