"""Blocklist parsing: every format, mixed and broken files, and reading sources from disk or a
real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent import lists
from agent.config import SHIPPED_LISTS, BlocklistsConfig, BlocklistSource, Config
from agent.lists import (
    ListError,
    ListRejected,
    cached_copy,
    detect_format,
    normalise,
    parse_lines,
    read_file,
    read_source,
)


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
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ListServer]:
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    srv = ListServer()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


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
    monkeypatch.setattr(lists, "MAX_DOWNLOAD_BYTES", 1 << 16)
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
