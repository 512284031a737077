"""Compiling the configured lists into a saved name index (see `agent.lists.index`).

When a list fails: a URL source falls back to its last good download (reported "stale"); a
list with no usable copy is left out (reported "failed") and the index is saved marked
incomplete. A caller that already holds an index can keep it when `report.complete` is false.
At start, `load_or_compile` still uses an incomplete index whose sources have not changed
(starting fast matters more than a retry that may hang on a dead network); `index.complete`
tells the caller to retry with `compile_index` in the background, as the refresh does.
A start with no index at all waits only for the fast path's table (`table_first`): the trie
is built after it, in the same child, while the DNS already answers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.config import BlocklistSource, Config
from agent.lists.index import (
    INCOMPLETE,
    VERSION,
    IndexBuilder,
    IndexLoadError,
    ListIndex,
    read_meta,
)
from agent.lists.parse import ListError, ParsedList, ParseStats
from agent.lists.sources import cached_copy, read_file, read_source

log = logging.getLogger(__name__)

ExtraEntry = tuple[str, str, str | None, str | None]  # (name, source, category, app)


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
    cpu_seconds: float = 0.0  # of the compiling process, until the report was made
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


Stamp = tuple[str, str]  # (fingerprint, built_at) of a saved index


def _saved_stamp(directory: Path) -> Stamp | None:
    try:
        meta = read_meta(directory)
    except IndexLoadError:
        return None
    return meta["fingerprint"], meta["built_at"]


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
    cfg: Config,
    extra_entries: Iterable[ExtraEntry] = (),
    extra_fingerprint: str = "",
    *,
    table_ready: Callable[[CompileReport], None] | None = None,
) -> tuple[ListIndex, CompileReport]:
    """Read every configured list, build the index, save it to `compiled_dir` and map it.

    With `table_ready` (and the fast path), the fast path's table is saved alone first (it
    answers every name as the whole index does; the trie is the other half of the time) and
    `table_ready` gets the report; then the whole index is saved over it.
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
            builder.add_many(parsed.names, source.name, source.category)
            builder.add_many(parsed.excepted, source.name, exception=True)
            del parsed  # free this list's names before the next list is read
    for name, source_name, category, app in extra_entries:
        builder.add(name, source_name, category, app)
        report.extra_names += 1
    report.fingerprint = _digest(states, cfg, extra_fingerprint)
    if not report.complete:
        report.fingerprint = INCOMPLETE + report.fingerprint
    directory = cfg.resolve(cfg.blocklists.compiled_dir)
    quick: Stamp | None = None
    index: ListIndex | None = None
    if table_ready is not None:
        index = builder.build(report.fingerprint, trie=False)
        if not index.has_trie:  # (without the fast path it is the whole index already)
            index.save(directory)
            quick = (index.fingerprint, index.built_at)
            report.names, report.seconds = len(index), time.monotonic() - started
            report.cpu_seconds = time.process_time()
            table_ready(report)
            index = None
    if index is None:
        index = builder.build(report.fingerprint)
    del builder  # the dict of every name is the big allocation; drop it before mapping
    if quick is None or _saved_stamp(directory) == quick:
        index.save(directory)
    else:  # another compile saved a newer index meanwhile: keep that one
        log.info("%s: a newer index was saved meanwhile; keeping it", directory)
    index = ListIndex.load(directory)
    report.names, report.seconds = len(index), time.monotonic() - started
    report.cpu_seconds = time.process_time()
    for line in report.summary():
        log.info("%s", line)
    return index, report


def compile_to_disk(
    cfg: Config, extra_entries: Sequence[ExtraEntry] = (), extra_fingerprint: str = ""
) -> CompileReport:
    """`compile_index` for a child process: only the (picklable) report comes back."""
    return compile_index(cfg, extra_entries, extra_fingerprint)[1]


def compile_in_child(
    cfg: Config,
    extra_entries: Iterable[ExtraEntry] = (),
    extra_fingerprint: str = "",
    *,
    table_first: bool = False,
) -> CompileReport:
    """Compile in a fresh process, so the parent never holds the builder's memory. With
    `table_first`, return as soon as the fast path's table is saved (see `compile_index`):
    the child goes on to save the whole index, which the caller's refresh then finds."""
    import multiprocessing  # here, not at the top: the DNS process rarely needs it

    # spawn, not fork: the parent may run an event loop and threads
    context = multiprocessing.get_context("spawn")
    if table_first:
        return _table_first(context, cfg, list(extra_entries), extra_fingerprint)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        job = pool.submit(compile_to_disk, cfg, list(extra_entries), extra_fingerprint)
        return job.result()


def _table_first(
    context: Any, cfg: Config, extra_entries: list[ExtraEntry], extra_fingerprint: str
) -> CompileReport:
    import threading

    receive, send = context.Pipe(duplex=False)
    args = (cfg, extra_entries, extra_fingerprint, send)
    child = context.Process(target=_compile_and_tell, args=args, name="list compiler")
    child.start()
    send.close()  # the child holds the only writing end: its exit ends `recv`
    try:
        kind, value = receive.recv()
    except EOFError:
        child.join()
        raise ListError(
            f"the list compiler stopped ({child.exitcode}) before it was done"
        ) from None
    finally:
        receive.close()
    # reaped once it has saved the whole index (an exit meanwhile waits for it)
    threading.Thread(target=child.join, name="list compiler", daemon=True).start()
    if kind == "error":
        raise value
    return value


def _compile_and_tell(
    cfg: Config, extra_entries: list[ExtraEntry], extra_fingerprint: str, send: Any
) -> None:
    """In the child of `_table_first`: the report goes back when the table is saved (or the
    whole index, without the fast path), or the error if it fails before that."""
    told = False

    def tell(report: CompileReport) -> None:
        nonlocal told
        send.send(("report", report))
        told = True

    try:
        report = compile_index(cfg, extra_entries, extra_fingerprint, table_ready=tell)[1]
    except Exception as exc:
        if told:
            raise  # the table is saved and in use; the whole index waits for the next compile
        try:
            send.send(("error", exc))
        except Exception:  # an error that cannot be pickled: its text then
            send.send(("error", ListError(f"compiling the lists failed: {exc!r}")))
        return
    if not told:
        send.send(("report", report))


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
