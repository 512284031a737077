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

When a list fails: a URL source falls back to its last good download (reported "stale"); a
list with no usable copy is left out (reported "failed") and the index is saved marked
incomplete. A caller that already holds an index can keep it when `report.complete` is false.
At start, `load_or_compile` still uses an incomplete index whose sources have not changed
(starting fast matters more than a retry that may hang on a dead network); `index.complete`
tells the caller to retry with `compile_index` in the background, as the refresh does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import mmap
import shutil
import sys
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import marisa_trie

from agent.claims import NO_CLAIMS, Claims
from agent.config import BlocklistSource, Config
from agent.lists import ListError, ParsedList, ParseStats, cached_copy, read_file, read_source

log = logging.getLogger(__name__)

MEMO_SIZE = 4096
INCOMPLETE = "incomplete:"  # fingerprint prefix of an index built without a failed list
VERSION = 1  # bump when the folder layout changes; older folders are then recompiled
Item = tuple[str, str | None, str | None]  # (source, category, app)
ClaimSet = tuple[tuple[Item, ...], tuple[str, ...]]  # (claims, sources with an exception)
ExtraEntry = tuple[str, str, str | None, str | None]  # (name, source, category, app)


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


@dataclass
class SourceReport:
    name: str
    location: str
    status: str  # "ok", "stale" (download failed; the last good copy was used) or "failed"
    stats: ParseStats | None = None
    message: str = ""

    def summary(self) -> str:
        counts = self.stats.summary() if self.stats else "not used"
        note = f" - {self.message}" if self.message else ""
        return f"list {self.name} [{self.status}] {counts}{note}"


@dataclass
class CompileReport:
    sources: list[SourceReport] = field(default_factory=list)
    extra_names: int = 0
    names: int = 0
    seconds: float = 0.0
    fingerprint: str = ""

    @property
    def complete(self) -> bool:
        return all(s.status != "failed" for s in self.sources)

    @property
    def failed(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status == "failed"]

    def summary(self) -> list[str]:
        """One line per list, then a total line: ready for the log."""
        total = (
            f"index: {self.names} names ({self.extra_names} from the app catalogue) "
            f"compiled in {self.seconds:.1f}s" + ("" if self.complete else "; INCOMPLETE")
        )
        return [s.summary() for s in self.sources] + [total]


def _source_state(source: BlocklistSource, cfg: Config) -> list[Any]:
    """What identifies a source's content without reading it: location, size, mtime."""
    path = cached_copy(source, cfg) if source.url else cfg.resolve(source.path or "").resolve()
    try:
        st = path.stat() if path is not None else None
    except OSError:
        st = None
    where = source.url or str(path)
    size_mtime = [st.st_size, st.st_mtime_ns] if st is not None else ["missing"]
    return [source.name, source.category, source.format, where, *size_mtime]


def _digest(states: list[list[Any]], cfg: Config, extra: str) -> str:
    text = json.dumps([VERSION, cfg.blocklists.max_junk_ratio, states, extra])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def fingerprint(sources: Iterable[BlocklistSource], cfg: Config, extra: str = "") -> str:
    """A hash of every source's identity and content state, plus `extra` (say, the catalogue's)."""
    return _digest([_source_state(s, cfg) for s in sources], cfg, extra)


def _read_for_index(
    source: BlocklistSource, cfg: Config
) -> tuple[ParsedList | None, SourceReport, list[Any]]:
    # A path is fingerprinted before it is read: if it changes meanwhile, the next start
    # sees a difference and compiles again. A URL is fingerprinted by the copy actually read.
    state = _source_state(source, cfg)
    report = SourceReport(source.name, source.location, "ok")
    try:
        parsed: ParsedList | None = read_source(source, cfg)
    except ListError as exc:
        parsed, report.status, report.message = None, "failed", str(exc)
        cached = cached_copy(source, cfg)
        if cached is not None:
            ratio = cfg.blocklists.max_junk_ratio
            try:
                parsed = read_file(cached, source.format, source.name, ratio)
            except ListError as again:
                report.message += f"; the saved copy is unusable too: {again}"
            else:
                when = datetime.fromtimestamp(cached.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
                report.status = "stale"
                report.message += f"; using the copy downloaded {when}"
    if source.url:
        state = _source_state(source, cfg)
    report.stats = parsed.stats if parsed else None
    return parsed, report, state


def compile_index(
    cfg: Config, extra_entries: Iterable[ExtraEntry] = (), extra_fingerprint: str = ""
) -> tuple[ListIndex, CompileReport]:
    """Read every configured list, build the index, save it to `compiled_dir` and map it.

    Safe to run in a child process (see `compile_in_child`): everything it needs is in its
    picklable arguments and it leaves its result on disk.
    """
    started = time.monotonic()
    report, builder, states = CompileReport(), IndexBuilder(), []
    for source in cfg.blocklists.sources:
        parsed, entry, state = _read_for_index(source, cfg)
        report.sources.append(entry)
        states.append(state)
        if parsed is not None:
            builder.add_many(parsed.blocked, source.name, source.category)
            builder.add_many(parsed.exceptions, source.name, exception=True)
            del parsed  # free this list's names before the next list is read
    for name, source_name, category, app in extra_entries:
        builder.add(name, source_name, category, app)
        report.extra_names += 1
    report.fingerprint = _digest(states, cfg, extra_fingerprint)
    if not report.complete:
        report.fingerprint = INCOMPLETE + report.fingerprint
    index = builder.build(report.fingerprint)
    del builder  # the dict of every name is the big allocation; drop it before mapping
    directory = cfg.resolve(cfg.blocklists.compiled_dir)
    index.save(directory)
    index = ListIndex.load(directory)
    report.names, report.seconds = len(index), time.monotonic() - started
    for line in report.summary():
        log.info("%s", line)
    return index, report


def compile_to_disk(
    cfg: Config, extra_entries: Sequence[ExtraEntry] = (), extra_fingerprint: str = ""
) -> CompileReport:
    """`compile_index` for a child process: only the (picklable) report comes back."""
    return compile_index(cfg, extra_entries, extra_fingerprint)[1]


def compile_in_child(
    cfg: Config, extra_entries: Iterable[ExtraEntry] = (), extra_fingerprint: str = ""
) -> CompileReport:
    """Compile in a fresh process, so the parent never holds the builder's memory."""
    import multiprocessing  # here, not at the top: the DNS process rarely needs it
    from concurrent.futures import ProcessPoolExecutor

    # spawn, not fork: the parent may run an event loop and threads
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        job = pool.submit(compile_to_disk, cfg, list(extra_entries), extra_fingerprint)
        return job.result()


def load_or_compile(
    cfg: Config,
    extra_entries: Iterable[ExtraEntry] = (),
    extra_fingerprint: str = "",
    *,
    in_child: bool = False,
) -> tuple[ListIndex, CompileReport | None]:
    """The saved index if it matches the current sources (fast start), else a fresh compile."""
    directory = cfg.resolve(cfg.blocklists.compiled_dir)
    wanted = fingerprint(cfg.blocklists.sources, cfg, extra_fingerprint)
    try:
        index = ListIndex.load(directory)
        if index.fingerprint in (wanted, INCOMPLETE + wanted):
            return index, None
        log.info("lists changed since the index was compiled; compiling again")
    except IndexLoadError as exc:
        log.info("%s", exc)
    if in_child:
        report = compile_in_child(cfg, extra_entries, extra_fingerprint)
        return ListIndex.load(directory), report
    return compile_index(cfg, extra_entries, extra_fingerprint)
