"""The compiled name index: suffix claims, exceptions, saving and mapping."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.dns.native import fastpath
from agent.lists.claims import NO_CLAIMS, Claims
from agent.lists.index import (
    REBUILDING,
    TABLE_FILE,
    TRIE_FILES,
    IndexBuilder,
    IndexDamaged,
    IndexLoadError,
    ListIndex,
    check_folder,
)


def claims(
    categories: set[str], sources: set[str], matched: str, apps: frozenset[str] = frozenset()
) -> Claims:
    return Claims(frozenset(categories), frozenset(apps), frozenset(sources), matched)


@pytest.fixture(params=["built", "trie", "hash table"])
def index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> ListIndex:
    """The same index as built, and as loaded from disk answering from the trie and from the
    compiled fast path's hash table: all three must give the same answers."""
    built = build_index()
    if request.param == "built":
        return built
    if request.param == "hash table" and fastpath is None:
        pytest.skip("the compiled fast path is not built here")
    source = tmp_path_factory.mktemp("source") / "index"
    built.save(source)
    loaded = ListIndex.load(source, use_table=request.param == "hash table")
    assert loaded.engine == ("trie" if request.param == "trie" else "hash table (fast path)")
    return loaded


def build_index() -> ListIndex:
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
    files = ["claims.bin", "meta.json", "names.marisa"]
    files += ["names.hash"] if fastpath is not None else []  # the compiled fast path's table
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    loaded = ListIndex.load(folder)
    for name in ("www.example.com", "x.good.example.com", "p.tiktokcdn.com", "badexample.com"):
        assert loaded.lookup(name) == index.lookup(name)
    assert (len(loaded), loaded.sources, loaded.fingerprint) == (9, index.sources, "test")
    if os.path.exists("/proc/self/maps"):  # the files are mapped, not read into memory
        maps = mapped_files()
        if fastpath is not None:  # only the hash table is read to answer
            assert str(folder / "names.hash") in maps and str(folder / "names.marisa") not in maps
        else:
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
def test_a_damaged_index_does_not_load_as_whole(
    index: ListIndex, tmp_path: Path, damage: Callable[[Path], object]
) -> None:
    """Either nothing loads, or what loads says it is damaged (the hash table answering for
    a damaged trie), so the caller compiles again."""
    folder = tmp_path / "index"
    index.save(folder)
    damage(folder)
    try:
        loaded = ListIndex.load(folder)
    except IndexLoadError as exc:
        assert str(folder) in str(exc)
    else:
        assert loaded.damaged and loaded.engine == "hash table (fast path)"
        assert loaded.lookup("www.example.com").sources == BOTH


def flip_bit(path: Path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 1
    path.write_bytes(bytes(data))


def index_files() -> list[str]:
    return ["names.marisa", "claims.bin", "meta.json"] + ([TABLE_FILE] if fastpath else [])


@pytest.mark.parametrize("name", index_files())
@pytest.mark.parametrize("where", [0.0, 0.5, 0.999])
def test_one_flipped_bit_in_any_file_is_noticed(tmp_path: Path, name: str, where: float) -> None:
    folder = tmp_path / "index"
    build_index().save(folder)
    assert check_folder(folder) == []
    flip_bit(folder / name, where)
    try:
        loaded = ListIndex.load(folder)
    except IndexDamaged:
        assert name in ("meta.json", *TRIE_FILES)
    else:
        assert name in loaded.damage
        assert loaded.lookup("www.example.com").sources == BOTH  # the good part answers
    if name != "meta.json":
        assert check_folder(folder) == [name]
    else:
        with pytest.raises(IndexDamaged):
            check_folder(folder)


def test_meta_json_that_still_parses_but_was_changed_is_damaged(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    build_index().save(folder)
    text = (folder / "meta.json").read_text()
    (folder / "meta.json").write_text(text.replace('"adult-list"', '"adult-lisu"'))
    with pytest.raises(IndexDamaged, match="checksum"):
        ListIndex.load(folder)


def test_an_index_of_the_previous_version_is_not_damaged_just_old(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    build_index().save(folder)
    meta = json.loads((folder / "meta.json").read_text())
    del meta["checksum"], meta["checksums"]
    (folder / "meta.json").write_text(json.dumps({**meta, "version": 2}))
    with pytest.raises(IndexLoadError, match="another version") as caught:
        ListIndex.load(folder)
    assert not isinstance(caught.value, IndexDamaged)


def test_the_closed_index_claims_every_name_for_the_rebuilding_list() -> None:
    closed = ListIndex.closed()
    for name in ("www.bbc.co.uk", "example.com", "a.b.c.d"):
        assert closed.lookup(name).categories == {REBUILDING}
        assert closed.lookup(name).sources == {REBUILDING}
    assert closed.damaged and not closed.complete and len(closed) == 0
    assert "damaged" in closed.engine


def test_a_missing_index_does_not_load(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError):
        ListIndex.load(tmp_path / "nothing")


@pytest.mark.skipif(fastpath is None, reason="the compiled fast path is not built here")
def test_a_damaged_hash_table_leaves_the_trie_to_answer(tmp_path: Path) -> None:
    folder = tmp_path / "index"
    build_index().save(folder)
    (folder / TABLE_FILE).write_bytes(b"HRNT\x02\x00\x00\x00" + bytes(40))
    loaded = ListIndex.load(folder)
    assert loaded.engine == "trie"
    assert loaded.lookup("www.example.com").sources == BOTH


@pytest.mark.skipif(fastpath is None, reason="the compiled fast path is not built here")
def test_a_table_from_another_index_is_not_used(tmp_path: Path) -> None:
    """meta.json counts the names; a table with another count is someone else's."""
    folder, other = tmp_path / "index", tmp_path / "other"
    build_index().save(folder)
    b = IndexBuilder()
    b.add("only.example", "x", "adult")
    b.build().save(other)
    (folder / TABLE_FILE).write_bytes((other / TABLE_FILE).read_bytes())
    assert ListIndex.load(folder).engine == "trie"


def test_claim_keys_group_names_with_equal_claims(index: ListIndex) -> None:
    """What the rules engine keeps recent answers by: equal keys, equal claims."""
    names = ["example.com", "www.example.com", "deep.a.example.com", "good.example.com",
             "x.good.example.com", "tracker.example.net", "www.youtube", "v16.tiktok.com",
             "p.tiktokcdn.com", "badexample.com", "com", ""]  # fmt: skip
    for a in names:
        for b in names:
            if index.claim_key(a) == index.claim_key(b):
                ca, cb = index.lookup(a), index.lookup(b)
                assert (ca.categories, ca.apps, ca.sources) == (cb.categories, cb.apps, cb.sources)
    assert index.claim_key("www.example.com") == index.claim_key("a.b.example.com")
    assert index.claim_key("badexample.com") == ()
    assert index.claim_key("www.example.com") != index.claim_key("tracker.example.net")


@pytest.mark.skipif(fastpath is None, reason="the compiled fast path is not built here")
def test_a_folder_swapped_in_while_loading_is_read_again_not_called_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """At a first start the compiler saves the table alone, the DNS process maps it, and the
    compiler goes on to swap in the whole index. A load caught between the swap's two renames
    finds no table: that is the swap, so the new folder is read, not the start refused."""
    import agent.lists.index as index_module

    folder = tmp_path / "index"
    builder = IndexBuilder()
    builder.add_many(["example.com", "tiktok.com"], "adult-list", "adult")
    builder.build(trie=False).save(folder)  # what the DNS process is told to load
    whole = builder.build()
    real_map_table = index_module._map_table
    swaps: list[Path] = []

    def map_mid_swap(path: Path, count: int) -> object:
        if not swaps:  # once: the compiler's save, with this read between its renames
            swaps.append(folder.rename(tmp_path / ".index.old"))
            found = real_map_table(path, count)
            whole.save(folder)
            return found
        return real_map_table(path, count)

    monkeypatch.setattr(index_module, "_map_table", map_mid_swap)
    loaded = ListIndex.load(folder)
    assert swaps, "the load never reached the table"
    assert not loaded.damage and loaded.engine == "hash table (fast path)"
    assert loaded.lookup("www.example.com").categories == frozenset({"adult"})
    assert "damaged" not in caplog.text
