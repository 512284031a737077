"""The compiled name index: which lists, categories and apps claim a name, by suffix.

Listing `example.com` claims `example.com` and every name below it, never `badexample.com`.
An exception (`@@||good.example.com^` in list S) takes away S's claims on that name and
everything below it, whatever else S lists; other lists still claim.

On disk an index is one folder, replaced whole by `save`:
  names.marisa  every listed name, reversed with a trailing dot ("moc.elpmaxe."), so one trie
                prefix search finds exactly the listed suffixes of a query, on label boundaries
  claims.bin    for each trie key id, the id of its claim set (1, 2 or 4 bytes)
  meta.json     the table of claim sets, per-list counts and the sources' fingerprint
Names of one list share one claim set, so the table stays tiny and a name costs the trie plus a
byte or two. Both files are memory-mapped: loading is instant and the pages are file-backed.

An index built without a failed list has a fingerprint starting with `INCOMPLETE`, so
`index.complete` is false. Compiling an index from the configured lists is `agent.compile`.
"""

from __future__ import annotations

import json
import mmap
import shutil
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import marisa_trie

from agent.claims import NO_CLAIMS, Claims

MEMO_SIZE = 4096
INCOMPLETE = "incomplete:"  # fingerprint prefix of an index built without a failed list
VERSION = 1  # bump when the folder layout changes; older folders are then recompiled
Item = tuple[str, str | None, str | None]  # (source, category, app)
ClaimSet = tuple[tuple[Item, ...], tuple[str, ...]]  # (claims, sources with an exception)


class IndexLoadError(Exception):
    """No usable index in a folder (missing, from another version, or damaged)."""


def _sort_key(item: Item) -> tuple[str, str, str]:
    return item[0], item[1] or "", item[2] or ""


class IndexBuilder:
    """Collects (name, claim) pairs, then builds a `ListIndex`. Names must be normalised."""

    def __init__(self) -> None:
        self._names: dict[str, int] = {}  # reversed name -> claim set id
        self._sets: list[ClaimSet] = [((), ())]
        self._set_ids: dict[ClaimSet, int] = {((), ()): 0}
        # (item, is exception) -> {old set: new set}: adding a list's claim to a million
        # names costs one dict hit each instead of building a million sets
        self._steps: dict[tuple[Any, bool], dict[int, int]] = {}

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
        for name in names:
            key = name[::-1] + "."
            old = table.get(key, 0)
            new = steps.get(old)
            if new is None:
                new = steps[old] = self._extend(old, item, exception)
            table[key] = new

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

    def build(self, fingerprint: str = "") -> ListIndex:
        names = self._names
        trie = marisa_trie.Trie(names)
        per_set = Counter(names.values())
        # Start every slot at the commonest claim set, then fix up the rest: usually one big
        # list dominates, and finding a key's id is the slow step of a build.
        common = per_set.most_common(1)[0][0] if per_set else 0
        typecode = next(t for t in "BHI" if len(self._sets) <= 1 << (8 * array(t).itemsize))
        ids = array(typecode, [common]) * len(trie)
        key_id = trie.key_id
        for key, set_id in names.items():
            if set_id != common:
                ids[key_id(key)] = set_id
        sources: Counter[str] = Counter()
        for set_id, n in per_set.items():
            for source in {item[0] for item in self._sets[set_id][0]}:
                sources[source] += n
        built_at = datetime.now(UTC).isoformat(timespec="seconds")
        return ListIndex(trie, ids, list(self._sets), fingerprint, dict(sources), built_at)


class ListIndex:
    """An immutable name index; `lookup` is safe from any thread and does no I/O."""

    def __init__(
        self,
        trie: marisa_trie.Trie,
        ids: Sequence[int],
        sets: list[ClaimSet],
        fingerprint: str = "",
        sources: dict[str, int] | None = None,
        built_at: str = "",
    ) -> None:
        self._trie, self._ids, self._sets = trie, ids, sets
        self._typecode = ids.typecode if isinstance(ids, array) else ids.format  # type: ignore[attr-defined]
        self._prefixes = trie.iter_prefixes_with_ids
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

    @classmethod
    def empty(cls) -> ListIndex:
        return IndexBuilder().build()

    def __len__(self) -> int:
        return len(self._trie)

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

    def lookup(self, name: str) -> Claims:
        """What claims `name` (lower-case, no trailing dot) and every listed suffix of it."""
        hits = list(self._prefixes(name[::-1] + "."))
        if not hits:
            return NO_CLAIMS
        if len(hits) == 1:
            key, key_id = hits[0]
            claims = self._memo.get(key)
            if claims is not None:
                return claims
            parts = self._fast[self._ids[key_id]]
            if parts is not None:
                claims = Claims(*parts, name[len(name) + 1 - len(key) :])
                if len(self._memo) >= MEMO_SIZE:
                    self._memo.clear()  # crude, but bounded and lock-free
                self._memo[key] = claims
                return claims
        return self._combine(name, hits)

    def _combine(self, name: str, hits: list[tuple[str, int]]) -> Claims:
        found = [(key, self._sets[self._ids[key_id]]) for key, key_id in hits]
        # an exception anywhere on the path silences its list on the whole path
        excepted = {source for _, (_, exc) in found for source in exc}
        live: list[Item] = []
        matched = ""
        for key, (claims, _) in found:  # least specific first
            kept = [c for c in claims if c[0] not in excepted]
            if kept:
                live.extend(kept)
                matched = name[len(name) + 1 - len(key) :]
        parts = self._parts(live)
        return NO_CLAIMS if parts is None else Claims(*parts, matched)

    def save(self, directory: Path) -> None:
        """Write beside `directory`, then swap folders; the old one stays until the new is whole."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-", dir=directory.parent))
        try:
            self._trie.save(str(tmp / "names.marisa"))
            with open(tmp / "claims.bin", "wb") as fh:
                fh.write(memoryview(self._ids).cast("B"))
            (tmp / "meta.json").write_text(json.dumps(self._meta(), indent=1), "utf-8")
            old = directory.parent / f".{directory.name}.old-{time.time_ns()}"
            if directory.exists():
                directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)  # a running process keeps its mapped pages
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _meta(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "fingerprint": self.fingerprint,
            "built_at": self.built_at,
            "count": len(self),
            "typecode": self._typecode,
            "byteorder": sys.byteorder,
            "sources": self.sources,
            "sets": [[[list(item) for item in claims], list(exc)] for claims, exc in self._sets],
        }

    @classmethod
    def load(cls, directory: Path) -> ListIndex:
        """Map a saved index; raises `IndexLoadError` if it is missing or unusable."""
        directory = Path(directory)
        try:
            meta = json.loads((directory / "meta.json").read_text("utf-8"))
            if meta.get("version") != VERSION or meta.get("byteorder") != sys.byteorder:
                raise IndexLoadError(f"{directory}: saved by another version; compile again")
            trie = marisa_trie.Trie()
            trie.mmap(str(directory / "names.marisa"))
            ids = _map_ids(directory / "claims.bin", meta["typecode"])
            sets = [(tuple(tuple(i) for i in c), tuple(e)) for c, e in meta["sets"]]
        except IndexLoadError:
            raise
        except Exception as exc:  # missing, truncated or garbled: all mean "compile again"
            raise IndexLoadError(f"{directory}: no usable index ({exc})") from exc
        if not len(trie) == len(ids) == meta["count"]:
            raise IndexLoadError(f"{directory}: names and claims do not match; compile again")
        return cls(trie, ids, sets, meta["fingerprint"], meta["sources"], meta["built_at"])


def _map_ids(path: Path, typecode: str) -> Sequence[int]:
    with open(path, "rb") as fh:
        if fh.seek(0, 2) == 0:
            return array(typecode)  # an empty file cannot be mapped
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    return memoryview(mapped).cast(typecode)
