"""Following the household in a process that decides (the DNS process, the proxy).

`poll` asks the database for the household version (once a second) and reads the household
again only when it has moved: from a SQLite file with sqlite3 (`snapshot`), or from PostgreSQL
with psycopg (`pgsnapshot`, imported only for a PostgreSQL URL).

When the database cannot be read, the process keeps deciding with what it has:
- the household it read last, if it has one;
- else (a start while the database is away) the copy of the last household read, kept on this
  box's disk (`snapshot_copy`), written after every read;
- else nothing: the caller's strictest defaults apply. Never fail open.
It says so once, in words a parent can read, not every second; and says when the database can
be read again, when the household is read afresh. `state` is what `/metrics` and the doctor
show: where the household in force came from, and why the database could not be read.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.config import Config
from agent.rules.household import Household
from agent.rules.policy import PolicyHolder
from agent.store import snapshot, urls
from agent.store.snapshot import Rows, SnapshotUnavailable, household_from
from agent.store.snapshot_copy import CopyUnusable, load_copy, save_copy

log = logging.getLogger("agent.store.snapshot")

Source = Path | str | None  # a SQLite file, a PostgreSQL URL, or nothing this can read


def household_source(cfg: Config) -> Source:
    """Where a process that decides reads the household: the SQLite file, the PostgreSQL URL,
    or None (a database this cannot read: the caller's strictest defaults, or the copy)."""
    if cfg.database_path is not None:
        return cfg.database_path
    return cfg.store.url if urls.is_postgres(cfg.store.url) else None


class HouseholdFollower:
    def __init__(
        self,
        source: Source,
        where: str,
        unavailable: str,
        read_version: Callable[[Any], int] | None = None,
        read_rows: Callable[[Any], Rows] | None = None,
        *,
        copy: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`where` names the database in messages (and in the copy, so a copy of another
        database is never used); `unavailable` says what happens when there is no household
        at all ("the strictest defaults apply"); `copy` is the local copy's file (None: none).
        """
        self.source, self.where, self.unavailable = source, where, unavailable
        self.copy, self.clock = copy, clock
        self.unreadable = f"{where} is not a database this process reads"
        self.read_version: Callable[[Any], int]
        self.read_rows: Callable[[Any], Rows]
        if isinstance(source, str):
            try:
                from agent.store.pgsnapshot import PgSnapshot  # only a PostgreSQL box loads it
            except ImportError as exc:  # the copy, else the caller's defaults; the fix named
                self.source = source = None
                self.unreadable = (
                    f"{where} needs psycopg ({exc}): pip install 'houserules[postgres]'"
                )
            else:
                reader = PgSnapshot(source)
                self._reader = reader
                self.close = reader.close
                self.read_version = read_version or reader.read_version
                self.read_rows = read_rows or reader.read_rows
        if not isinstance(source, str):
            self._versions = snapshot.VersionReader()  # one connection, kept between polls
            self.read_version = read_version or self._versions
            self.read_rows = read_rows or snapshot.read_rows
        self.version: int | None = None
        self.read_from: str | None = None  # "database" or "copy": where the household came from
        self.problem = ""  # why the database cannot be read now ("" when it can)

    _reader: Any = None

    @property
    def database_id(self) -> str | None:
        """Which database the household is read from, the same for every process that reads
        it: PostgreSQL's own identifier for it (once connected), or a SQLite file's device and
        inode. None when neither can be told."""
        if self._reader is not None:
            return self._reader.database_id
        if isinstance(self.source, Path):
            try:
                found = self.source.stat()
            except OSError:
                return None
            return hashlib.sha256(f"sqlite/{found.st_dev}/{found.st_ino}".encode()).hexdigest()[:12]
        return None

    _versions: snapshot.VersionReader | None = None

    def close(self) -> None:
        """Let go of the database connection (PostgreSQL's, or the one SQLite's version is
        read on; the household itself is read on one opened for the read)."""
        if self._versions is not None:
            self._versions.close()

    @property
    def state(self) -> dict[str, Any]:
        return {"version": self.version, "read_from": self.read_from, "problem": self.problem}

    def poll(self) -> Household | None:
        """The household if it changed since the last poll (or was read from the copy kept on
        disk because the database is away), else None."""
        try:
            if self.source is None:
                raise SnapshotUnavailable(self.unreadable)
            fresh = self.read_from == "database"
            if fresh and self.read_version(self.source) == self.version:
                return self._back(None)
            rows = self.read_rows(self.source)
            household = household_from(rows, self.where)
        except SnapshotUnavailable as exc:
            return self._away(str(exc))
        self._keep(rows)
        return self._back(household)

    def refresh(self, holder: PolicyHolder) -> bool:
        """Swap a changed household into `holder`; True when there was one."""
        household = self.poll()
        if household is None:
            return False
        holder.update(household=household)
        return True

    # -- the database away and back -------------------------------------------------------------

    def _away(self, problem: str) -> Household | None:
        said = problem == self.problem
        self.problem = problem
        why = ""
        if self.version is None and self.copy is not None:
            try:
                return self._from_copy(problem)
            except (CopyUnusable, SnapshotUnavailable) as exc:
                why = f"{exc}; "
        if said:
            return None
        if self.version is None:
            log.warning("house rules unavailable (%s); %s%s", problem, why, self.unavailable)
        else:
            log.warning(
                "house rules unavailable (%s); the last ones read (version %d, from the %s) "
                "stay in force until it can be read again",
                problem,
                self.version,
                self.read_from,
            )
        return None

    def _from_copy(self, problem: str) -> Household:
        assert self.copy is not None
        rows, saved_at = load_copy(self.copy, self.where)
        household = household_from(rows, str(self.copy))
        saved = datetime.fromtimestamp(saved_at).strftime("%Y-%m-%d %H:%M")
        log.warning(
            "house rules unavailable (%s); using the copy kept on this box (version %d, saved "
            "%s) until the database can be read again",
            problem,
            household.version,
            saved,
        )
        self.version, self.read_from = household.version, "copy"
        return household

    def _back(self, household: Household | None) -> Household | None:
        if self.problem:
            log.info("the database can be read again (%s)", self.where)
            self.problem = ""
        if household is not None:
            self.version, self.read_from = household.version, "database"
            log.info("house rules updated (version %d)", household.version)
        return household

    def _keep(self, rows: Rows) -> None:
        if self.copy is None:
            return
        try:
            save_copy(self.copy, self.where, rows, self.clock())
        except (OSError, TypeError, ValueError) as exc:
            log.warning("the copy of the house rules could not be saved at %s: %s", self.copy, exc)
