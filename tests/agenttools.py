"""The agent as `houserules run` starts it, in a thread, for end-to-end tests."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from zoneinfo import ZoneInfo

from agent import config as config_mod
from agent.ops.jobs import Jobs
from agent.ops.runner import Agent

from waiting import wait_for

SHIPPED_BYPASS = Path(__file__).resolve().parent.parent / "blocklists" / "bypass.txt"
TZ = ZoneInfo("Europe/London")


def write_config(
    tmp: Path, upstream: str, store_url: str | None = None, extra_list: Path | None = None
) -> Path:
    sources = (
        f'[[blocklists.sources]]\nname = "bypass"\ncategory = "bypass"\npath = "{SHIPPED_BYPASS}"\n'
    )
    if extra_list is not None:
        sources += (
            '[[blocklists.sources]]\nname = "gambling"\ncategory = "gambling"\n'
            f'path = "{extra_list}"\n'
        )
    text = f"""
[dns]
listen = ["127.0.0.1:0"]
upstream_timeout = 0.5
[upstream]
servers = ["{upstream}"]
[store]
url = "{store_url or "sqlite:///" + str(tmp / "data" / "hr.db")}"
[blocklists]
compiled_dir = "{tmp / "index"}"
[dashboard]
listen = "127.0.0.1:0"
[rules]
timezone = "Europe/London"
household_poll_seconds = 0.2
{sources}"""
    path = tmp / "config.toml"
    path.write_text(text)
    return path


class RunningAgent:
    """The DNS process in a thread; `jobs` is the jobs process's work, in-process, for the
    test to run when it wants (None with `jobs=False`, e.g. when the database is unusable)."""

    def __init__(self, cfg: config_mod.Config, jobs: bool = True) -> None:
        self.jobs = Jobs(cfg) if jobs else None  # first: it migrates the database
        self.agent = Agent(cfg, spawn_jobs=False)
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self._main(),), daemon=True
        )
        self.ready = threading.Event()

    async def _main(self) -> None:
        self.stop_event = asyncio.Event()
        serving = asyncio.ensure_future(self.agent.serve(self.stop_event))
        while not self.agent.server.addresses:
            await asyncio.sleep(0.01)
        self.ready.set()
        await serving

    def __enter__(self) -> RunningAgent:
        self.thread.start()
        wait_for(
            lambda: self.ready.is_set() or not self.thread.is_alive(),
            "the DNS server to listen",
        )
        assert self.ready.is_set(), "the DNS server stopped before it listened (see the log)"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop_event.set)  # type: ignore[union-attr]
        self.thread.join(15)

    @property
    def port(self) -> int:
        return self.agent.server.addresses[0][1]

    @property
    def engine(self):
        assert self.jobs is not None
        return self.jobs.engine


def until(check, seconds: float = 5.0, what: str = "the condition") -> float:
    """Poll `check` until it is true; return the seconds it took (fail after `seconds`). Tests
    use it for what a parent is promised ("within two seconds"), so the deadline is theirs."""
    return wait_for(check, what, seconds=seconds)


def children_of(pid: int, named: str = "") -> list[int]:
    """The child processes of `pid` whose command line holds `named`."""
    pids = []
    for task in Path(f"/proc/{pid}/task").iterdir():  # any thread may have started it
        pids += [int(p) for p in (task / "children").read_text().split()]
    return [p for p in pids if named in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
