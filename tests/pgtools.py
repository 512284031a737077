"""A real PostgreSQL for tests: Debian's `postgresql` package, a new cluster in a temporary folder
(initdb), started by pg_ctl on a free loopback port, stopped and removed afterwards.

PostgreSQL refuses to run as root, so under root the cluster belongs to the `postgres` user the
Debian package creates. Each test gets its own database on the one server (`pg_url`); a test
about the database going away starts a server of its own (`PgServer`) and stops it.
A test whose server cannot start here skips, saying why (the package is missing).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.waiting import wait_for


def _bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """One PostgreSQL server on 127.0.0.1:`port`, its data in a temporary folder."""

    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            pytest.skip("Debian's postgresql is not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.folder = Path(tempfile.mkdtemp(prefix="houserules-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user_id: int | None = None
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user to run PostgreSQL")
            self.user_id, self.group_id = entry.pw_uid, entry.pw_gid
            os.chown(self.folder, self.user_id, self.group_id)
        self._run("initdb", "-D", str(self.data), "-U", "houserules", "--auth=trust", "-E", "UTF8")
        self.start()

    def _as_owner(self) -> None:
        if self.user_id is not None:
            os.setgid(self.group_id)
            os.setuid(self.user_id)

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [str(self.bindir / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=self._as_owner,
            cwd=self.folder,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")
        return done

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "log"),
            "-o",
            options,
            "-w",
            "-t",
            "90",
            "start",
        )
        wait_for(self.ready, f"PostgreSQL on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://houserules@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its SQLAlchemy URL."""
        import psycopg

        name = name or f"hr_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    server = PgServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def pg_url(pg_server: PgServer) -> str:
    """A fresh, empty database on the session's PostgreSQL: its URL (postgresql://...)."""
    return pg_server.create_database()
