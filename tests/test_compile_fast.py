"""The fast compile (`agent/lists/_scan.c`, `IndexBuilder.add_many` in passes, the table saved
before the trie) against the plain Python it replaced: the same names, counts, index bytes and
answers for every kind of line, and damaged input still refused with the same words."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path

import pytest

from agent.config import BlocklistsConfig, BlocklistSource, Config
from agent.dns.native import fastpath
from agent.lists import index as index_module
from agent.lists import native, parse
from agent.lists.compile import compile_in_child, compile_index
from agent.lists.index import (
    TABLE_FILE,
    TRIE_FILES,
    IndexBuilder,
    IndexDamaged,
    IndexLoadError,
    ListIndex,
)
from agent.lists.parse import ListError, ListRejected, ParsedList, parse_file
from agent.lists.sources import read_file

scan = pytest.importorskip("agent.lists._scan", reason="the C list helper is not built here")

# Every kind of line a list holds, mixed, in each format's own file: plain lines (taken in C)
# next to everything else (left to Python), with duplicates across both.
HOSTS = (
    "\ufeff# Title: a hosts file\r\n"
    "127.0.0.1 localhost\r\n"
    "127.0.0.1 localhost.localdomain\n"
    "::1 localhost ip6-localhost\n"
    "0.0.0.0 0.0.0.0\n"
    "0.0.0.0 ads.example.com\n"
    "0.0.0.0 ads.example.com\n"  # a duplicate of a plain line
    "0.0.0.0 Ads.Example.COM\n"  # the same name in upper case: Python's line
    "  0.0.0.0\tpixel.example.org.  \n"
    "127.0.0.1 tracker.example.net # the tracker\n"
    "0.0.0.0 one.example two.example\n"
    "0.0.0.0 bücher.de\n"
    "0.0.0.0 b\xfccher.de\n"  # the same IDN again
    "0.0.0.0 10.0.0.1\n"
    "0.0.0.0 host.example.123\n"
    "0.0.0.0 under_score.example.com\n"
    "0.0.0.0 " + "a" * 64 + ".example.com\n"
    "0.0.0.0 " + "x." * 125 + "abc\n"
    "0.0.0.0 " + "x." * 125 + "abcd\n"
    "0.0.0.0 a..b.example.com\n"
    "0.0.0.0 trailing.example.com..\n"
    "0.0.0.0 *.wild.example.com\n"
    "0.0.0.0 part*.example.com\n"
    "0.0.0.0 form.example.com\x0c\n"
    "0.0.0.0 nbsp.example.com\xa0\n"
    "0.0.0.0 local\n"
    "0.0.0.0 ip6-allnodes\n"
    "junk line with words\n"
    "\n"
    "   \n"
    "0.0.0.0 lone-cr.example.com\r0.0.0.0 after-cr.example.com\n"
    "0.0.0.0 crlf.example.com\r\n"
    "0.0.0.0 ads.example.com"  # the last line has no line end
)
ADBLOCK = (
    "[Adblock Plus 2.0]\n"
    "! Title: a DNS filter\r\n"
    "||ads.example.com^\n"
    "||ads.example.com^\n"
    "||Tracker.Example.net^\n"
    "||tracker.example.net^$important\n"
    "||third.example.net^$third-party,image\n"
    "||*.wild.example.org^\n"
    "@@||good.example.com^\n"
    "@@||good.example.com^\n"
    "||path.example.com/ads^\n"
    "|https://exact.example.com|\n"
    "/regex[0-9]+/\n"
    "example.com##.banner\n"
    "##.everywhere\n"
    "||port.example.com:8080^\n"
    "||xn--bcher-kva.de^\n"
    "||bücher.de^\n"
    " ||leading-space.example.com^\n"
    "||trailing-space.example.com^  \n"
    "||digits.example.42^\n"
    "||localhost^\n"
    "plain.example.com\n"
)
DOMAINS = (
    "# a plain domain list\n"
    "example.com\n"
    "example.com.\n"
    "\texample.net\n"
    "*.wild.example.org\n"
    "WILD.example.org\n"
    "partly*.example.com\n"
    "not a name at all\n"
    "single-label-brand\n"
    "localhost\n"
    "1.2.3.4\n"
    "пример.рф\n"
    "broken-\xff-utf8.example.com\n"
    "straße.de\n"
    "0.0.0.0 hosts-style.example.com\n"
    "||adblock-style.example.com^\n"
)


def encode(text: str) -> bytes:
    """UTF-8, but a lone \\xff stays one broken byte, as in a damaged download."""
    return text.encode("utf-8", "surrogateescape").replace("\xff".encode(), b"\xff")


def both_ways(path: Path, fmt: str | None, monkeypatch: pytest.MonkeyPatch) -> tuple:
    fast = parse_file(path, fmt)
    with monkeypatch.context() as m:
        m.setattr(native, "scan", None)
        slow = parse_file(path, fmt)
    return fast, slow


def same(a: ParsedList, b: ParsedList) -> None:
    assert a.blocked == b.blocked  # the same names in the same order
    assert a.exceptions == b.exceptions
    assert asdict(a.stats) == asdict(b.stats)


@pytest.mark.parametrize("text", [HOSTS, ADBLOCK, DOMAINS], ids=["hosts", "adblock", "domains"])
@pytest.mark.parametrize("fmt", [None, "hosts", "domains", "adblock"])
@pytest.mark.parametrize("piece", [parse.PIECE_BYTES, 1, 7, 64])
def test_the_c_reader_gives_what_the_python_reader_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, fmt: str | None, piece: int
) -> None:
    """Every format read as every format, in pieces small enough to cut "\\r\\n" in two."""
    path = tmp_path / "list.txt"
    path.write_bytes(encode(text))
    monkeypatch.setattr(parse, "PIECE_BYTES", piece)
    fast, slow = both_ways(path, fmt, monkeypatch)
    same(fast, slow)
    assert fast.stats.lines > 10


def test_the_c_reader_takes_plain_lines_and_leaves_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(encode(HOSTS))
    parsed = parse_file(path, None)
    assert parsed.stats.format == "hosts"
    assert parsed.blocked[:3] == ["ads.example.com", "pixel.example.org", "tracker.example.net"]
    for name in ("xn--bcher-kva.de", "lone-cr.example.com", "after-cr.example.com"):
        assert name in parsed.blocked
    assert "crlf.example.com" in parsed.blocked and "a..b.example.com" not in parsed.blocked
    assert parsed.stats.duplicates == 4  # ads x3 (one upper case), bücher once


def big_list(count: int) -> str:
    return "".join(f"0.0.0.0 n{i}.example{i % 7}.com\n" for i in range(count))


def test_a_big_list_reads_the_same_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.txt"
    path.write_text("# header\n" + big_list(30_000) + HOSTS + big_list(2_000))
    monkeypatch.setattr(parse, "PIECE_BYTES", 4096)
    fast, slow = both_ways(path, None, monkeypatch)
    same(fast, slow)
    assert fast.stats.entries > 30_000 and fast.stats.duplicates > 2_000


@pytest.mark.parametrize(
    "content, message",
    [
        (b"<!DOCTYPE html>\n<html><body>Not found</body></html>\n", "It looks like a web page"),
        (b"\x00\x01\x02 binary\n" * 50 + b"ok.example.com\n", "not valid names"),
        (b"", "no names found"),
        (b"# only comments\r\n! and more\r\n", "no names found"),
    ],
)
def test_damaged_input_is_refused_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    path = tmp_path / "list.txt"
    path.write_bytes(content)
    with pytest.raises(ListRejected, match=message) as fast:
        read_file(path, None, "bad", 0.2)
    monkeypatch.setattr(native, "scan", None)
    with pytest.raises(ListRejected) as slow:
        read_file(path, None, "bad", 0.2)
    assert str(fast.value) == str(slow.value)


def test_a_missing_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ListError, match="gone: cannot read .*missing.txt"):
        read_file(tmp_path / "missing.txt", None, "gone", 0.2)


def builders() -> tuple[IndexBuilder, IndexBuilder]:
    """The same lists into the builder's passes and into its name-by-name reference."""
    first, second = IndexBuilder(), IndexBuilder()
    steps = [
        (["a.example.com", "b.example.com", "shared.example.org"], "one", "adult", None, False),
        (["b.example.com", "c.example.com", "b.example.com", "shared.example.org"], "two",
         "gambling", None, False),
        (["c.example.com", "d.example.com"], "one", "adult", None, False),
        (["good.a.example.com", "c.example.com"], "one", None, None, True),
        (["shared.example.org", "new.example.net", "shared.example.org"], "apps", "social",
         "tiktok", False),
        ([f"n{i}.example.com" for i in range(500)] + ["a.example.com"], "two", "gambling",
         None, False),
        (["d.example.com", "e.example.com"], "three", "adult", None, False),
    ]  # fmt: skip
    for names, source, category, app, exception in steps:
        first.add_many(iter(names), source, category, app, exception)
        item = source if exception else (source, category, app)
        second._add_each(names, item, exception)
    first.add("solo.example.com", "apps", "social", "tiktok")
    second._add_each(["solo.example.com"], ("apps", "social", "tiktok"), False)
    return first, second


def folder_bytes(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {p.name: p.read_bytes() for p in folder.iterdir()}
    meta = json.loads(out.pop("meta.json"))  # type: ignore[arg-type]
    meta.pop("built_at"), meta.pop("checksum")
    out["meta"] = meta
    return out


def test_the_builders_passes_build_the_same_index_byte_for_byte(tmp_path: Path) -> None:
    fast, reference = builders()
    assert fast._names == reference._names and list(fast._names) == list(reference._names)
    assert fast._sets == reference._sets
    fast.build("same").save(tmp_path / "fast")
    reference.build("same").save(tmp_path / "reference")
    assert folder_bytes(tmp_path / "fast") == folder_bytes(tmp_path / "reference")


def test_names_that_are_not_ascii_are_still_keyed(tmp_path: Path) -> None:
    b = IndexBuilder()
    b.add_many(["bücher.de", "example.com"], "one", "adult")
    index = b.build()
    assert index.lookup("www.example.com").sources == {"one"}
    assert scan.reversed_key("bücher.de") == "ed.rehcüb."
    assert scan.reversed_key("") == "."
    with pytest.raises(TypeError):
        scan.reversed_key(b"example.com")


def make_config(tmp_path: Path) -> Config:
    (tmp_path / "hosts.txt").write_bytes(encode(HOSTS) + big_list(3_000).encode())
    (tmp_path / "adblock.txt").write_bytes(encode(ADBLOCK))
    (tmp_path / "domains.txt").write_bytes(encode(DOMAINS))
    sources = (
        BlocklistSource(name="hosts", category="adult", path=Path("hosts.txt")),
        BlocklistSource(name="adblock", category="ads", path=Path("adblock.txt")),
        BlocklistSource(name="domains", category="gambling", path=Path("domains.txt")),
    )
    lists = BlocklistsConfig(sources=sources, compiled_dir=Path("data/index"))
    return Config(blocklists=lists, base_dir=tmp_path)


QUESTIONS = [
    "ads.example.com",
    "www.ads.example.com",
    "good.example.com",
    "x.good.example.com",
    "tracker.example.net",
    "xn--bcher-kva.de",
    "example.com",
    "sub.example.net",
    "wild.example.org",
    "n17.example3.com",
    "never.listed.example",
    "plain.example.com",
    "hosts-style.example.com",
    "adblock-style.example.com",
    "tiktok.com",
]
EXTRA = [("tiktok.com", "apps", "social", "tiktok"), ("ads.example.com", "apps", "ads", None)]


def test_a_compile_gives_the_same_index_and_answers_as_plain_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = make_config(tmp_path)
    fast, fast_report = compile_index(cfg, EXTRA, "cat")
    fast_files = folder_bytes(tmp_path / "data" / "index")
    with monkeypatch.context() as m:
        m.setattr(native, "scan", None)
        m.setattr(IndexBuilder, "add_many", reference_add_many)
        slow, slow_report = compile_index(cfg, EXTRA, "cat")
    assert folder_bytes(tmp_path / "data" / "index") == fast_files
    assert [s.summary() for s in fast_report.sources] == [s.summary() for s in slow_report.sources]
    for name in QUESTIONS:
        assert fast.lookup(name) == slow.lookup(name), name
    # adblock's exception silences adblock alone; domains lists example.com
    assert fast.lookup("x.good.example.com").sources == {"domains"}


def reference_add_many(self, names, source, category=None, app=None, exception=False):  # type: ignore[no-untyped-def]
    self._add_each(names, source if exception else (source, category, app), exception)


needs_table = pytest.mark.skipif(fastpath is None, reason="the compiled fast path is not built")


@needs_table
def test_the_table_is_saved_first_and_answers_as_the_whole_index(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    folder = tmp_path / "data" / "index"
    seen: dict[str, object] = {}

    def table_ready(report: object) -> None:
        seen["files"] = sorted(p.name for p in folder.iterdir())
        seen["index"] = ListIndex.load(folder)
        seen["report"] = report

    whole, report = compile_index(cfg, EXTRA, "cat", table_ready=table_ready)
    assert seen["files"] == ["meta.json", TABLE_FILE]
    quick = seen["index"]
    assert isinstance(quick, ListIndex) and not quick.damaged and not quick.has_trie
    assert len(quick) == len(whole) and quick.fingerprint == whole.fingerprint
    for name in QUESTIONS:
        assert quick.lookup(name) == whole.lookup(name), name
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [*TRIE_FILES, TABLE_FILE, "meta.json"]
    )
    assert quick.verify() == []  # the whole index saved over it is not damage
    assert ListIndex.load(folder, use_table=False).lookup("ads.example.com").sources


@needs_table
def test_a_table_alone_without_the_fast_path_is_compiled_again_not_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = IndexBuilder()
    b.add_many(["example.com", "ads.example.net"], "one", "adult")
    quick = b.build("fp", trie=False)
    assert not quick.has_trie and quick.lookup("www.example.com").sources == {"one"}
    folder = tmp_path / "index"
    quick.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", TABLE_FILE]
    assert ListIndex.load(folder).lookup("ads.example.net").sources == {"one"}
    ListIndex.load(folder).save(tmp_path / "again")  # a loaded table alone saves as one
    assert ListIndex.load(tmp_path / "again").lookup("example.com").sources == {"one"}
    with pytest.raises(IndexLoadError) as caught:
        ListIndex.load(folder, use_table=False)
    assert not isinstance(caught.value, IndexDamaged)
    monkeypatch.setattr(index_module, "fastpath", None)
    with pytest.raises(IndexLoadError, match="only the fast path's table") as caught:
        ListIndex.load(folder)
    assert not isinstance(caught.value, IndexDamaged)


@needs_table
def test_a_damaged_table_alone_fails_closed(tmp_path: Path) -> None:
    b = IndexBuilder()
    b.add_many(["example.com"], "one", "adult")
    folder = tmp_path / "index"
    b.build("fp", trie=False).save(folder)
    data = bytearray((folder / TABLE_FILE).read_bytes())
    data[len(data) // 2] ^= 1
    (folder / TABLE_FILE).write_bytes(bytes(data))
    with pytest.raises(IndexDamaged, match=TABLE_FILE):
        ListIndex.load(folder)


@needs_table
def test_a_child_returns_at_the_table_and_saves_the_whole_index_after(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    folder = tmp_path / "data" / "index"
    report = compile_in_child(cfg, EXTRA, "cat", table_first=True)
    assert report.complete and report.names > 3_000
    assert ListIndex.load(folder).lookup("www.ads.example.com").sources == {
        "hosts",
        "adblock",
        "apps",
        "domains",
    }
    deadline = time.monotonic() + 60
    while not (folder / TRIE_FILES[0]).exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the child's second save, with a deadline
    whole = ListIndex.load(folder)
    assert whole.has_trie and not whole.damaged and len(whole) == report.names


def test_a_child_that_fails_before_the_table_raises_in_the_caller(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    (tmp_path / "data").write_text("a file where the index folder's parent should be")
    with pytest.raises(OSError):
        compile_in_child(cfg, EXTRA, "cat", table_first=True)


@needs_table
def test_a_newer_index_saved_while_the_trie_is_built_is_kept(tmp_path: Path) -> None:
    """The whole index is not saved over an index another compile saved after the table."""
    cfg = make_config(tmp_path)
    folder = tmp_path / "data" / "index"

    def meanwhile(report: object) -> None:
        newer = IndexBuilder()
        newer.add("only.example.com", "newer", "adult")
        newer.build("newer").save(folder)

    kept, _ = compile_index(cfg, EXTRA, "cat", table_ready=meanwhile)
    assert kept.fingerprint == "newer" and ListIndex.load(folder).fingerprint == "newer"
    assert kept.lookup("ads.example.com").sources == frozenset()


def test_without_the_fast_path_the_table_first_compile_builds_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "fastpath", None)
    builds: list[bool] = []
    real_build = IndexBuilder.build

    def counted(self: IndexBuilder, fingerprint: str = "", *, trie: bool = True) -> ListIndex:
        builds.append(trie)
        return real_build(self, fingerprint, trie=trie)

    monkeypatch.setattr(IndexBuilder, "build", counted)
    told: list[object] = []
    index, _ = compile_index(make_config(tmp_path), EXTRA, "cat", table_ready=told.append)
    assert builds == [False] and told == []  # one build, and it was the whole index
    assert index.engine == "trie" and index.lookup("www.ads.example.com").sources


@pytest.mark.parametrize("name", sorted(parse.LOCALHOST_NAMES))
def test_every_localhost_name_is_left_to_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """The C reader's own copy of the localhost names must cover `LOCALHOST_NAMES`."""
    path = tmp_path / "list.txt"
    for line in (f"0.0.0.0 {name}", name, f"||{name}^"):
        path.write_text(f"{line}\nexample.com\n{line}\n")
        fast, slow = both_ways(path, None, monkeypatch)
        same(fast, slow)
        assert name not in fast.blocked
