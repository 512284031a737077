"""Keeping the compiled index current for a running agent.

Compiling a million names needs far more memory than answering from them, so it happens in a
child process that saves the index to disk; the agent maps the result and swaps it in whole.
A saved index is used at start even if the lists changed since (they are recompiled in the
background); with no saved index at all, the agent compiles before it answers anything, so
there is never a window in which devices go unfiltered. A damaged index (see
`agent.lists.index`) is not waited for: the box answers from what is whole in it, or from
`ListIndex.closed()` (children blocked, adults through), and compiles again in the background.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import Config
from agent.lists.compile import compile_in_child, fingerprint
from agent.lists.index import INCOMPLETE, IndexDamaged, IndexLoadError, ListIndex
from agent.rules.catalog import Catalog

log = logging.getLogger(__name__)
Stamp = tuple[str, str]  # (fingerprint, built_at) of the index in use


@dataclass
class CompileOutcome:
    ok: bool
    lines: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # downloads to try again, nothing broken

    @property
    def usable(self) -> bool:
        """Everything worked, or only downloads failed (a box not online yet): the index is in
        use with what it has and the downloads are tried again at each refresh."""
        return self.ok or bool(self.waiting)


def _stamp(index: ListIndex) -> Stamp:
    return (index.fingerprint, str(index.built_at))


def _saved_stamp(directory: Path) -> Stamp | None:
    """The stamp of the index saved in `directory`, from its small metadata file only."""
    try:
        meta = json.loads((directory / "meta.json").read_text("utf-8"))
        return (meta["fingerprint"], str(meta["built_at"]))
    except (OSError, ValueError, KeyError):
        return None


def _wanted(cfg: Config, catalog: Catalog) -> str:
    return fingerprint(cfg.blocklists.sources, cfg, catalog.fingerprint)


def _compile(cfg: Config, catalog: Catalog, *, table_first: bool = False) -> CompileOutcome:
    entries = list(catalog.index_entries())
    report = compile_in_child(cfg, entries, catalog.fingerprint, table_first=table_first)
    urls = {s.name for s in cfg.blocklists.sources if s.url}
    failed = [s.name for s in report.failed]
    waiting = failed if failed and all(name in urls for name in failed) else []
    return CompileOutcome(report.complete, report.summary(), waiting)


def compile_now(cfg: Config, catalog: Catalog) -> CompileOutcome:
    """Fetch and compile every source now (the `init` and `lists update` commands)."""
    return _compile(cfg, catalog)


def say_damaged(index: ListIndex) -> None:
    """The log line for an index in use that must be compiled again."""
    if index.damage == ("all",):
        log.error("the compiled lists are damaged: children are blocked until they are rebuilt")
    elif index.damage:
        log.error(
            "the compiled lists are damaged (%s); answering from the %s until they are rebuilt",
            ", ".join(index.damage),
            index.engine,
        )


def reload_damaged(cfg: Config) -> ListIndex:
    """What to answer from after damage was found in the index in use: the whole part of the
    saved index, else `ListIndex.closed()`; either is `damaged`, so the caller rebuilds."""
    try:
        index = ListIndex.load(cfg.resolve(cfg.blocklists.compiled_dir))
    except IndexLoadError as exc:
        log.error("%s", exc)
        return ListIndex.closed()
    if not index.damaged:  # whole again already (a rebuild landed): rebuild all the same
        index.damage = ("in use",)
    say_damaged(index)
    return index


def initial_index(cfg: Config, catalog: Catalog) -> tuple[ListIndex, Stamp]:
    """The saved index; with none, one compiled now. A damaged one is used as far as it is
    whole (`index.damaged` then asks the caller to `refresh` with force)."""
    directory = cfg.resolve(cfg.blocklists.compiled_dir)
    try:
        index = ListIndex.load(directory)
    except IndexDamaged as exc:
        log.error("%s", exc)
        index = ListIndex.closed()
    except IndexLoadError as exc:
        log.info("%s; compiling the lists before answering", exc)
        # answering needs only the fast path's table: the trie is saved after it, and the
        # refresh maps the whole index when it lands
        for line in _compile(cfg, catalog, table_first=True).lines:
            log.info("%s", line)
        try:
            index = ListIndex.load(directory)
        except IndexLoadError as exc:  # compiled, yet unreadable: a failing card, say
            log.error("the lists just compiled cannot be read: %s", exc)
            index = ListIndex.closed()
    say_damaged(index)
    return index, _stamp(index)


def refresh(
    cfg: Config, catalog: Catalog, current: Stamp, *, force: bool
) -> tuple[ListIndex, Stamp] | None:
    """A new index when the sources changed (or always, with force); None if nothing changed.
    With force, the freshly compiled index is returned even if its stamp looks the same (the
    one in use may be damaged)."""
    directory = cfg.resolve(cfg.blocklists.compiled_dir)
    # An incomplete index (a source failed) never matches; retry it on the refresh schedule,
    # not on every check.
    changed = not current[0].startswith(INCOMPLETE) and _wanted(cfg, catalog) != current[0]
    if force or changed:
        outcome = _compile(cfg, catalog)
        for line in outcome.lines:
            (log.info if outcome.ok else log.warning)("%s", line)
    elif _saved_stamp(directory) == current:
        return None  # nothing new on disk: no need to map it again
    try:
        index = ListIndex.load(directory)
    except IndexLoadError as exc:
        log.error("keeping the lists in use: %s", exc)
        return None
    if _stamp(index) == current and not force:
        return None
    say_damaged(index)
    return index, _stamp(index)
