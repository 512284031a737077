"""The compiled name index: which lists, categories and apps claim a name, by suffix.

Listing `example.com` claims `example.com` and every name below it, never `badexample.com`.
An exception (`@@||good.example.com^` in list S) takes away S's claims on that name and
everything below it, whatever else S lists; other lists still claim.

On disk an index is one folder, replaced whole by `save`:
  names.marisa  every listed name, reversed with a trailing dot ("moc.elpmaxe."), so one trie
                prefix search finds exactly the listed suffixes of a query, on label boundaries
  claims.bin    for each trie key id, the id of its claim set (1, 2 or 4 bytes)
  names.hash    the same names and claim set ids as a hash table for the compiled fast path
                (`agent/dns/_fastpath.c`): 64-bit hashes of every listed name, sorted, in buckets
                by their top bits (so only the bits below are stored: 6 bytes a name for a
                million names), and claim set ids of 1, 2 or 4 bytes;
                written only where the fast path is built, and used instead of the trie then
  meta.json     the table of claim sets, per-list counts, the sources' fingerprint, a CRC-32 of
                each file above and one of meta.json's own content
Names of one list share one claim set, so the table stays tiny and a name costs the trie plus a
byte or two. A start with no index saves the folder first with names.hash and meta.json alone
(`IndexBuilder.build(trie=False)`: the DNS answers from it sooner), then whole; a folder without
the trie files loads only where the fast path is built. The files are memory-mapped: loading
is instant and the pages are file-backed.

The hash table answers by 64-bit hash (all 64 bits compared: the bucket's and the stored
ones): two different names share one with a chance of about one in 10^13 per lookup against
a million listed names, so a wrongly blocked name is far less
likely than a wrong entry in the lists themselves. Building refuses a table with a collision
among the listed names (the trie is used then).

A damaged index fails closed. The checksums are checked whenever the folder is mapped (about
15 ms per 32 MB: crc32 reads ~2 GB/s); a damaged hash table leaves the trie to answer and a
damaged trie the hash table, and `index.damage` names the damaged files so the caller compiles
again. With neither usable (or meta.json damaged) `load` raises `IndexDamaged`, and the caller
answers from `ListIndex.closed()` until the new index is in: every name is claimed by the
"lists-rebuilding" category, so a child gets nothing the lists have not judged, adults keep
going. CRC-32 finds accidental damage (flipped bits, torn writes), not a deliberate forgery by
someone who can already write to the box's disk.

An index built without a failed list has a fingerprint starting with `INCOMPLETE`, so
`index.complete` is false. Compiling an index from the configured lists is `agent.lists.compile`.
"""

from __future__ import annotations

import itertools
import json
import logging
import mmap
import os
import shutil
import sys
import tempfile
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.dns.native import fastpath
from agent.lists import native
from agent.lists.claims import NO_CLAIMS, Claims

if TYPE_CHECKING:
    import marisa_trie

log = logging.getLogger(__name__)
MEMO_SIZE = 4096
INCOMPLETE = "incomplete:"  # fingerprint prefix of an index built without a failed list
VERSION = 4  # bump when the folder layout changes; older folders are then recompiled
TABLE_FILE = "names.hash"
TRIE_FILES = ("names.marisa", "claims.bin")
# Reads of a folder that a compile swapped for a new one meanwhile, before its state counts
SWAP_RETRIES = 5
REBUILDING = "lists-rebuilding"  # the one category of every name while the index is rebuilt
Item = tuple[str, str | None, str | None]  # (source, category, app)
ClaimSet = tuple[tuple[Item, ...], tuple[str, ...]]  # (claims, sources with an exception)
Hit = tuple[int, int]  # (length of the listed suffix that matched, its claim set id)
ClaimKey = int | tuple[int, ...]  # what a name's claims depend on: its claim set ids


class IndexLoadError(Exception):
    """No usable index in a folder (missing, from another version, or damaged)."""


class IndexDamaged(IndexLoadError):
    """The folder holds an index of this version, but nothing in it can be trusted to answer."""


def file_checksum(path: Path) -> int:
    """CRC-32 of a file, read in chunks (zlib lets other threads run while it sums)."""
    crc = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            crc = zlib.crc32(chunk, crc)
    return crc


def _meta_checksum(meta: dict[str, Any]) -> int:
    body = {k: v for k, v in meta.items() if k != "checksum"}
    return zlib.crc32(json.dumps(body, sort_keys=True).encode("utf-8"))


def read_meta(directory: Path) -> dict[str, Any]:
    """meta.json, checked against its own checksum; raises `IndexLoadError` (`IndexDamaged`
    when the folder is this version's but the file is garbled)."""
    path = Path(directory) / "meta.json"
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError as exc:
        raise IndexLoadError(f"{directory}: no index here ({exc.strerror})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexDamaged(f"{directory}: meta.json is unreadable ({exc})") from exc
    try:
        meta = json.loads(text)
        version = meta.get("version")
    except (ValueError, AttributeError) as exc:
        raise IndexDamaged(f"{directory}: meta.json is damaged ({exc})") from exc
    if "checksum" in meta and meta["checksum"] != _meta_checksum(meta):
        raise IndexDamaged(f"{directory}: meta.json does not match its checksum")
    if version != VERSION or meta.get("byteorder") != sys.byteorder:
        raise IndexLoadError(f"{directory}: saved by another version; compile again")
    if "checksum" not in meta:
        raise IndexDamaged(f"{directory}: meta.json has no checksum")
    return meta


def _folder_id(directory: Path) -> tuple[int, int] | None:
    """Which folder holds the name now (`save` swaps a new one in); None while none does."""
    try:
        found = os.stat(directory)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def damaged_files(directory: Path, meta: dict[str, Any], names: Iterable[str]) -> list[str]:
    """Which of `names` (files of the folder) are missing or do not match their checksum."""
    sums = meta.get("checksums") or {}
    bad = []
    for name in names:
        try:
            ok = name in sums and file_checksum(Path(directory) / name) == sums[name]
        except OSError:
            ok = False
        if not ok:
            bad.append(name)
    return bad


def check_folder(directory: Path) -> list[str]:
    """Every damaged file of a saved index (empty when it is whole); raises `IndexLoadError`
    when there is no index of this version at all. For `doctor` and the dashboard."""
    meta = read_meta(directory)
    return damaged_files(directory, meta, list(meta.get("checksums") or {}))


def _reversed_key(name: str) -> str:
    """A name as the trie keys it: reversed, with a dot after it ("moc.elpmaxe.")."""
    return name[::-1] + "."


def _keys(names: Iterable[str]) -> Iterator[str]:
    """Each name's trie key, made one at a time (a million at once would be ~70 MB more)."""
    return map(native.scan.reversed_key if native.scan is not None else _reversed_key, names)


def _sort_key(item: Item) -> tuple[str, str, str]:
    return item[0], item[1] or "", item[2] or ""


class IndexBuilder:
    """Collects (name, claim) pairs, then builds a `ListIndex`. Names must be normalised."""

    def __init__(self) -> None:
        self._names: dict[str, int] = {}  # name -> claim set id
        self._sets: list[ClaimSet] = [((), ())]
        self._set_ids: dict[ClaimSet, int] = {((), ()): 0}
        # (item, is exception) -> {old set: new set}: adding a list's claim to a million
        # names costs one dict hit each instead of building a million sets
        self._steps: dict[tuple[Any, bool], dict[int, int]] = {}
        self._table_raw: bytes | None = None  # the fast path's table, once built

    def add(
        self, name: str, source: str, category: str | None = None, app: str | None = None
    ) -> None:
        self.add_many((name,), source, category, app)

    def add_exception(self, name: str, source: str) -> None:
        self.add_many((name,), source, exception=True)

    def add_many(
        self,
        names: Iterable[str],
        source: str,
        category: str | None = None,
        app: str | None = None,
        exception: bool = False,
    ) -> None:
        item: Any = source if exception else (source, category, app)
        table = self._names
        steps = self._steps.setdefault((item, exception), {})
        self._table_raw = None
        names = names if isinstance(names, (dict, list)) else list(names)
        # What the name-by-name loop (`_add_each`, the reference) does, in a few passes in C:
        # every name not listed yet moves from set 0, each listed one from its own set; new
        # claim sets are numbered in the order the loop would first meet them.
        listed = {name: table[name] for name in filter(table.__contains__, names)}
        first_new = next(itertools.filterfalse(listed.__contains__, names), None)
        olds = list(listed.values())
        if first_new is not None:  # every name before it is a listed one
            olds.insert(len(dict.fromkeys(itertools.takewhile(first_new.__ne__, names))), 0)
        for old in olds:
            if old not in steps:
                steps[old] = self._extend(old, item, exception)
        if first_new is not None:
            table.update(zip(names, itertools.repeat(steps[0])))  # no second dict of them
        for name, old in listed.items():
            table[name] = steps[old]

    def _add_each(self, names: Iterable[str], item: Any, exception: bool) -> None:
        """`add_many` name by name: the reference its passes must agree with (a test checks)."""
        self._table_raw = None
        table = self._names
        steps = self._steps.setdefault((item, exception), {})
        for name in names:
            old = table.get(name, 0)
            new = steps.get(old)
            if new is None:
                new = steps[old] = self._extend(old, item, exception)
            table[name] = new

    def _extend(self, old: int, item: Any, exception: bool) -> int:
        claims, excepted = self._sets[old]
        if exception:
            excepted = tuple(sorted({*excepted, item}))
        else:
            claims = tuple(sorted({*claims, item}, key=_sort_key))
        found = self._set_ids.get((claims, excepted))
        if found is None:
            found = self._set_ids[(claims, excepted)] = len(self._sets)
            self._sets.append((claims, excepted))
        return found

    def build(self, fingerprint: str = "", *, trie: bool = True) -> ListIndex:
        """The index of every name added so far. With `trie=False` and the fast path, the
        index of its hash table alone, built in about half the time: it answers the same, and
        is saved without the trie files; `build()` after it reuses the table."""
        names = self._names
        per_set = Counter(names.values())
        sources: Counter[str] = Counter()
        for set_id, n in per_set.items():
            for source in {item[0] for item in self._sets[set_id][0]}:
                sources[source] += n
        built_at = datetime.now(UTC).isoformat(timespec="seconds")
        sets = list(self._sets)
        if not trie:
            raw = self._table()
            if raw is not None:
                return ListIndex(
                    None, None, sets, fingerprint, dict(sources), built_at,
                    table=fastpath.Table(raw), table_raw=raw, count=len(names),  # type: ignore[union-attr]
                )  # fmt: skip
        import marisa_trie  # here, not at the top: the DNS process may answer from the table

        keys = marisa_trie.Trie(_keys(names))
        # Start every slot at the commonest claim set, then fix up the rest: usually one big
        # list dominates, and finding a key's id is the slow step of a build.
        common = per_set.most_common(1)[0][0] if per_set else 0
        ids = array(_typecode(len(self._sets)), [common]) * len(keys)
        key_id = keys.key_id
        others = itertools.compress(names.items(), map(common.__ne__, names.values()))
        for name, set_id in others:
            ids[key_id(_reversed_key(name))] = set_id
        raw = self._table()  # after the trie: its memory is back by now
        table = fastpath.Table(raw) if raw is not None else None  # type: ignore[union-attr]
        return ListIndex(
            keys, ids, sets, fingerprint, dict(sources), built_at, table=table, table_raw=raw
        )

    def _table(self) -> bytes | None:
        if self._table_raw is None:
            self._table_raw = _build_table(self._names)
        return self._table_raw


def _typecode(sets: int) -> str:
    """The array typecode of claim set ids: 1, 2 or 4 bytes, as few as hold `sets` ids."""
    return next(t for t in "BHI" if sets <= 1 << (8 * array(t).itemsize))


def _build_table(names: dict[str, int]) -> bytes | None:
    """The fast path's hash table of the same names, or None without the fast path (or, by
    a long chance, if two listed names share a hash)."""
    if fastpath is None:
        return None
    try:
        return fastpath.build_table(names.items())
    except ValueError as exc:
        log.warning("no hash table for the fast path (%s); the trie answers instead", exc)
        return None


class ListIndex:
    """An immutable name index; `lookup` is safe from any thread and does no I/O."""

    def __init__(
        self,
        trie: marisa_trie.Trie | None,
        ids: Sequence[int] | None,
        sets: list[ClaimSet],
        fingerprint: str = "",
        sources: dict[str, int] | None = None,
        built_at: str = "",
        *,
        table: Any = None,
        table_raw: bytes | None = None,
        count: int | None = None,
        folder: Path | None = None,
        damage: Sequence[str] = (),
    ) -> None:
        """`trie` and `ids` may be None when `table` (the fast path's) answers instead; they
        are then read from `folder` only if the index is saved again. `damage` names the files
        of `folder` found damaged (the index answers from the others)."""
        self._trie, self._ids, self._sets, self._table = trie, ids, sets, table
        self.damage: tuple[str, ...] = tuple(damage)
        self._sums: dict[str, int] = {}  # the folder's checksums, as checked when mapped
        self._folder, self._table_raw = folder, table_raw
        self._count = len(trie) if trie is not None else (count or 0)
        if table is not None:
            self._hits = table.lookup
        else:
            self._hits = self._trie_hits
            self._prefixes = trie.iter_prefixes_with_ids  # type: ignore[union-attr]
        # Claims parts ready to use for the usual case: one listed suffix, no exception.
        self._fast = [self._parts(claims) if not exc else None for claims, exc in sets]
        # Building a frozen Claims costs more than the trie walk; blocked names repeat a lot
        # (the same ad and tracker hosts all day), so recent answers are kept by listed name.
        self._memo: dict[str, Claims] = {}
        self.fingerprint, self.built_at = fingerprint, built_at
        self.sources: dict[str, int] = dict(sources or {})  # list name -> names it claims

    @property
    def complete(self) -> bool:
        """False when a list failed at compile time and was left out."""
        return not self.fingerprint.startswith(INCOMPLETE)

    def verify(self) -> list[str]:
        """The files of this index's folder damaged since it was mapped (the DNS process
        checks now and then: its pages are the file's, so damage on disk reaches answers).
        Empty when whole, when not from a folder, or when the folder holds a newer index."""
        if self._folder is None or not self._sums:
            return []
        try:
            meta = read_meta(self._folder)
        except IndexLoadError:
            return ["meta.json"] if (self._folder / "meta.json").exists() else []
        if (meta["fingerprint"], meta["built_at"]) != (self.fingerprint, self.built_at):
            return []  # replaced by a new compile: the refresh maps that one
        sums = meta.get("checksums") or {}
        if any(sums.get(name) != crc for name, crc in self._sums.items()):
            return ["meta.json"]
        # (a table-only index may since have been saved again whole, with the same stamp)
        return damaged_files(self._folder, meta, list(self._sums))

    @property
    def damaged(self) -> bool:
        """True when some file was damaged (or nothing was usable): compile again."""
        return bool(self.damage)

    @classmethod
    def empty(cls) -> ListIndex:
        return IndexBuilder().build()

    @classmethod
    def closed(cls) -> ListIndex:
        """What answers while a damaged index is compiled again: every name is claimed by the
        `REBUILDING` list category, so a child gets nothing the lists have not judged."""
        sets: list[ClaimSet] = [((), ()), (((REBUILDING, REBUILDING, None),), ())]
        fingerprint = INCOMPLETE + "damaged"
        return cls(None, None, sets, fingerprint, table=_EveryName(), count=0, damage=("all",))

    def __len__(self) -> int:
        return self._count

    @property
    def compiled(self) -> Any:
        """The fast path's `Table` that answers `claim_key` and `lookup`, or None when they are
        answered another way (the trie, or a damaged index's stand-in)."""
        table = self._table
        return table if fastpath is not None and type(table) is fastpath.Table else None

    @property
    def engine(self) -> str:
        """Which structure answers lookups: "hash table (fast path)" or "trie"."""
        if isinstance(self._table, _EveryName):
            return "nothing: the index is damaged, children are blocked until it is rebuilt"
        return "hash table (fast path)" if self._table is not None else "trie"

    @property
    def stats(self) -> dict[str, Any]:
        return {
            "names": len(self),
            "claim_sets": len(self._sets),
            "sources": dict(self.sources),
            "fingerprint": self.fingerprint,
            "built_at": self.built_at,
        }

    @staticmethod
    def _parts(claims: Iterable[Item]) -> tuple[frozenset[str], ...] | None:
        claims = tuple(claims)
        if not claims:
            return None
        return (
            frozenset(c for _, c, _ in claims if c),
            frozenset(a for _, _, a in claims if a),
            frozenset(s for s, _, _ in claims),
        )

    def _trie_hits(self, name: str) -> list[Hit]:
        ids = self._ids
        return [(len(k) - 1, ids[i]) for k, i in self._prefixes(name[::-1] + ".")]  # type: ignore[index]

    def claim_key(self, name: str) -> ClaimKey:
        """What `lookup(name)` depends on, cheaply: the claim set ids of the listed suffixes
        (least specific first). Names with equal keys have equal claims, but for `matched`."""
        hits = self._hits(name)
        if not hits:
            return ()
        if len(hits) == 1:
            return hits[0][1]
        return tuple(set_id for _, set_id in hits)

    def lookup(self, name: str) -> Claims:
        """What claims `name` (lower-case, no trailing dot) and every listed suffix of it."""
        hits = self._hits(name)
        if not hits:
            return NO_CLAIMS
        if len(hits) == 1:
            length, set_id = hits[0]
            matched = name[len(name) - length :]
            claims = self._memo.get(matched)
            if claims is not None:
                return claims
            parts = self._fast[set_id]
            if parts is not None:
                claims = Claims(*parts, matched)
                if len(self._memo) >= MEMO_SIZE:
                    self._memo.clear()  # crude, but bounded and lock-free
                self._memo[matched] = claims
                return claims
        return self._combine(name, hits)

    def _combine(self, name: str, hits: Sequence[Hit]) -> Claims:
        found = [(length, self._sets[set_id]) for length, set_id in hits]
        # an exception anywhere on the path silences its list on the whole path
        excepted = {source for _, (_, exc) in found for source in exc}
        live: list[Item] = []
        matched = ""
        for length, (claims, _) in found:  # least specific first
            kept = [c for c in claims if c[0] not in excepted]
            if kept:
                live.extend(kept)
                matched = name[len(name) - length :]
        parts = self._parts(live)
        return NO_CLAIMS if parts is None else Claims(*parts, matched)

    def save(self, directory: Path) -> None:
        """Write beside `directory`, then swap folders; the old one stays until the new is whole."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-", dir=directory.parent))
        try:
            trie_ids = self._trie_and_ids()
            if trie_ids is not None:  # None: the table alone (`build(trie=False)`)
                trie_ids[0].save(str(tmp / "names.marisa"))
                with open(tmp / "claims.bin", "wb") as fh:
                    fh.write(memoryview(trie_ids[1]).cast("B"))  # type: ignore[arg-type]
            if self._table_raw is not None:
                (tmp / TABLE_FILE).write_bytes(self._table_raw)
            elif self._folder is not None and (self._folder / TABLE_FILE).is_file():
                shutil.copyfile(self._folder / TABLE_FILE, tmp / TABLE_FILE)
                if damaged_files(tmp, read_meta(self._folder), [TABLE_FILE]):
                    (tmp / TABLE_FILE).unlink()  # changed since it was mapped: leave it out
            meta = self._meta()
            meta["checksums"] = {p.name: file_checksum(p) for p in sorted(tmp.iterdir())}
            meta["checksum"] = _meta_checksum(meta)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1), "utf-8")
            old = directory.parent / f".{directory.name}.old-{time.time_ns()}"
            if directory.exists():
                directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)  # a running process keeps its mapped pages
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @property
    def has_trie(self) -> bool:
        """False for the fast path's table alone (`build(trie=False)`, or a folder saved so)."""
        if self._trie is not None:
            return True
        return self._folder is not None and all(name in self._sums for name in TRIE_FILES)

    def _trie_and_ids(self) -> tuple[marisa_trie.Trie, Sequence[int]] | None:
        if not self.has_trie:
            return None
        if self._trie is None or self._ids is None:
            loaded = ListIndex.load(self._folder, use_table=False)  # type: ignore[arg-type]
            return loaded._trie, loaded._ids  # type: ignore[return-value]
        return self._trie, self._ids

    def _meta(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "built_at": self.built_at,
            "count": len(self),
            "typecode": _typecode(len(self._sets)),
            "byteorder": sys.byteorder,
            "sources": self.sources,
            "sets": [[[list(item) for item in claims], list(exc)] for claims, exc in self._sets],
        }

    @classmethod
    def load(cls, directory: Path, use_table: bool = True) -> ListIndex:
        """Map a saved index after checking its checksums; raises `IndexLoadError` if it is
        missing or unusable (`IndexDamaged` if damaged beyond answering). With the fast path
        and a whole hash table in the folder, the table answers and the trie is only checked.

        A compile may swap a new folder in while this reads (`save`; at a first start the
        compiler saves the table, then the whole index, while the DNS process maps the
        table): files missing or unlike meta.json are then the swap, not damage, so the
        folder that took the name is read again, a few times at most."""
        directory = Path(directory)
        for _ in range(SWAP_RETRIES):
            before = _folder_id(directory)
            try:
                index = cls._load_once(directory, use_table)
            except IndexLoadError:
                if _folder_id(directory) == before:
                    raise
                continue
            if not index.damage or _folder_id(directory) == before:
                break
        else:
            index = cls._load_once(directory, use_table)
        for name in index.damage:
            log.error("%s: %s is damaged (checksum); compile again", directory, name)
        return index

    @classmethod
    def _load_once(cls, directory: Path, use_table: bool) -> ListIndex:
        meta = read_meta(directory)
        try:
            sets = [(tuple(tuple(i) for i in c), tuple(e)) for c, e in meta["sets"]]
            count, typecode = meta["count"], meta["typecode"]
            table, damage = None, []
            sums = meta["checksums"]
            has_trie = all(name in sums for name in TRIE_FILES)  # else saved as the table alone
            tried = use_table and fastpath is not None and TABLE_FILE in sums
            if tried:
                damage = damaged_files(directory, meta, [TABLE_FILE])
                table = None if damage else _map_table(directory / TABLE_FILE, count)
            if has_trie:
                damage += damaged_files(directory, meta, TRIE_FILES)
            if table is not None:
                index = cls(
                    None,
                    None,
                    sets,
                    meta["fingerprint"],
                    meta["sources"],
                    meta["built_at"],
                    table=table,
                    count=count,
                    folder=directory,
                    damage=damage,
                )
                index._sums = dict(meta["checksums"])
                return index
            if not has_trie:
                if tried:  # the table was this folder's only way to answer
                    raise IndexDamaged(f"{directory}: {TABLE_FILE} unusable; compile again")
                raise IndexLoadError(f"{directory}: only the fast path's table; compile again")
            if any(name in damage for name in TRIE_FILES):
                raise IndexDamaged(f"{directory}: {', '.join(damage)} damaged; compile again")
            import marisa_trie

            trie = marisa_trie.Trie()
            trie.mmap(str(directory / "names.marisa"))
            ids = _map_ids(directory / "claims.bin", typecode)
        except IndexLoadError:
            raise
        except Exception as exc:  # truncated or garbled past the checksums: compile again
            raise IndexDamaged(f"{directory}: no usable index ({exc})") from exc
        if not len(trie) == len(ids) == count:
            raise IndexDamaged(f"{directory}: names and claims do not match; compile again")
        index = cls(
            trie,
            ids,
            sets,
            meta["fingerprint"],
            meta["sources"],
            meta["built_at"],
            folder=directory,
            damage=damage,
        )
        index._sums = dict(meta["checksums"])
        return index


class _EveryName:
    """Stands in for the hash table in `ListIndex.closed`: every name hits claim set 1."""

    HIT: list[Hit] = [(0, 1)]

    def lookup(self, name: str) -> list[Hit]:
        return self.HIT

    def __len__(self) -> int:
        return 0


def _map_table(path: Path, count: int) -> Any:
    """The fast path's table, mapped; None without the fast path or a usable table file (an
    index compiled before the fast path was built, say): the trie answers then."""
    if fastpath is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        table = fastpath.Table(mapped)
    except (OSError, ValueError) as exc:
        log.warning("%s: not usable (%s); the trie answers instead", path, exc)
        return None
    if len(table) != count:
        log.warning("%s: %d names, meta.json says %d; the trie answers", path, len(table), count)
        return None
    return table


def _map_ids(path: Path, typecode: str) -> Sequence[int]:
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return array(typecode)  # an empty file cannot be mapped
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped).cast(typecode)
