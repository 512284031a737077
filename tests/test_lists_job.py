"""A damaged compiled index fails closed: bits flipped in each of its files, the real agent
started on it, real queries over loopback from a child's and an adult's device."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from dnslib import RCODE

from agent import config as config_mod
from agent.cli import main as cli
from agent.dns.native import fastpath
from agent.lists.compile import compile_index
from agent.lists.index import TABLE_FILE, IndexDamaged, ListIndex, check_folder
from agent.rules.catalog import load_catalog

from agenttools import RunningAgent, until, write_config
from dnstools import DEFAULT_ZONE, Upstream, ZoneResolver, ask

ZONE = DEFAULT_ZONE + "www.bbc.co.uk. 300 IN A 192.0.2.12\nbets.example. 300 IN A 192.0.2.20\n"
CHILD, ADULT = "127.0.0.2", "127.0.0.4"
LISTED = ["casino.example", "www.casino.example", "www.tiktok.com", "dns.google"]
FILES = ["names.marisa", "claims.bin", "meta.json"] + ([TABLE_FILE] if fastpath else [])


@pytest.fixture
def upstream():
    up = Upstream(ZoneResolver(ZONE)).start()
    yield up
    up.stop()


@pytest.fixture
def cfg(tmp_path: Path, upstream: Upstream) -> config_mod.Config:
    gambling = tmp_path / "gambling.txt"
    gambling.write_text("casino.example\nbets.example\n")
    path = write_config(tmp_path, upstream.address, extra_list=gambling)
    # the test asks as often as it can while the lists are rebuilt: no rate limit for it
    path.write_text(path.read_text().replace("[dns]\n", "[dns]\nclient_rate_limit = 0\n", 1))
    for argv in (
        ["child", "add", "Sam", "--born", "2015-01-01"],
        ["device", "add", "--ip", CHILD, "--name", "Sam's tablet", "--child", "Sam"],
        ["device", "add", "--ip", ADULT, "--name", "Parent laptop", "--adult"],
    ):
        assert cli(["--config", str(path), *argv]) == 0, argv
    loaded = config_mod.load(path)
    catalog = load_catalog()
    compile_index(loaded, list(catalog.index_entries()), catalog.fingerprint)
    return loaded


def flip_bits(path: Path) -> None:
    """The low bit of every 7th byte from the middle on: a lot of damage, as on a bad card."""
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data), 7):
        data[i] ^= 1
    path.write_bytes(bytes(data))


def rcode(running: RunningAgent, name: str, source: str) -> int:
    return ask(running.port, name, source=source).header.rcode


def assert_listed_blocked(running: RunningAgent) -> None:
    for name in LISTED:
        assert rcode(running, name, CHILD) == RCODE.NXDOMAIN, name


@pytest.mark.parametrize("damaged", FILES)
def test_a_damaged_index_keeps_listed_names_blocked_until_it_is_rebuilt(
    cfg: config_mod.Config, damaged: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = cfg.resolve(cfg.blocklists.compiled_dir)
    flip_bits(folder / damaged)
    if damaged != "meta.json":
        assert check_folder(folder) == [damaged]
    caplog.set_level(logging.INFO)
    running = RunningAgent(cfg)
    held = float("inf")
    running.agent._rebuild_after = held  # hold the rebuild, to see the damaged state first
    with running:
        index = running.agent.holder.current.index
        assert index.damaged
        assert "damaged" in caplog.text
        assert_listed_blocked(running)
        unlisted = rcode(running, "www.bbc.co.uk", CHILD)
        closed = damaged == "meta.json" or (fastpath is None and damaged != TABLE_FILE)
        assert index.engine.startswith("nothing") == closed
        if closed:  # nothing whole to judge by: children get nothing unjudged, adults go on
            assert unlisted == RCODE.NXDOMAIN
            assert rcode(running, "www.bbc.co.uk", ADULT) == RCODE.NOERROR
        else:  # the whole part judges as usual
            assert unlisted == RCODE.NOERROR

        running.agent._rebuild_after = 0.0

        def rebuilt() -> bool:
            assert_listed_blocked(running)  # at every moment of the rebuild
            return not running.agent.holder.current.index.damaged

        until(rebuilt, 90)
        assert_listed_blocked(running)
        assert rcode(running, "www.bbc.co.uk", CHILD) == RCODE.NOERROR
        assert rcode(running, "bets.example", ADULT) == RCODE.NOERROR
    assert check_folder(folder) == []
    assert "lists updated" in caplog.text


def flip_in_place(path: Path) -> None:
    """Bits rotting on the card under a running box: the file is changed where it lies (its
    mapped pages with it), not replaced."""
    with open(path, "r+b") as fh:
        size = fh.seek(0, 2)
        for at in range(size // 3, size, max(1, size // 50)):
            fh.seek(at)
            byte = fh.read(1)
            fh.seek(at)
            fh.write(bytes([byte[0] ^ 1]))


@pytest.mark.parametrize("damaged", [TABLE_FILE if fastpath else "claims.bin", "meta.json"])
def test_damage_while_running_is_found_by_the_periodic_check(
    cfg: config_mod.Config, damaged: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = cfg.resolve(cfg.blocklists.compiled_dir)
    caplog.set_level(logging.INFO)
    running = RunningAgent(cfg)
    with running:
        agent = running.agent
        assert not agent.holder.current.index.damaged
        agent._rebuild_after = float("inf")  # hold the rebuild to see the damaged state
        flip_in_place(folder / damaged)
        agent.check_index()  # what the ticker does every INDEX_CHECK_SECONDS
        assert agent.holder.current.index.damaged
        assert "damaged while in use" in caplog.text
        assert_listed_blocked(running)
        agent._rebuild_after = 0.0

        def rebuilt() -> bool:
            assert_listed_blocked(running)
            return not agent.holder.current.index.damaged

        until(rebuilt, 90)
        assert rcode(running, "www.bbc.co.uk", CHILD) == RCODE.NOERROR
    assert check_folder(folder) == []


def test_lists_compiled_at_a_first_start_that_cannot_be_read_fail_closed(
    cfg: config_mod.Config, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first start compiles the lists before answering. If what it saved cannot be read
    back (a failing card), the box starts all the same: children get nothing the lists have
    not judged, adults go on, the log says why, and the lists are compiled again. The one
    thing not real here is the damage: every load after the first fails, as on a failing
    card, until the test says the card reads again."""
    shutil.rmtree(cfg.resolve(cfg.blocklists.compiled_dir))  # a first start: no index yet
    real_load = ListIndex.load.__func__  # type: ignore[attr-defined]
    loads: list[Path] = []
    card = {"failing": True}

    def damaged_once_compiled(cls: type[ListIndex], directory: Path, *args, **kwargs):
        loads.append(directory)
        if len(loads) >= 2 and card["failing"]:  # the first load finds nothing at all
            raise IndexDamaged(f"{directory}: {TABLE_FILE} unusable (as a failing card)")
        return real_load(cls, directory, *args, **kwargs)

    monkeypatch.setattr(ListIndex, "load", classmethod(damaged_once_compiled))
    caplog.set_level(logging.INFO)
    running = RunningAgent(cfg)
    running.agent._rebuild_after = float("inf")  # hold the rebuild, to see the closed state
    with running:
        assert len(loads) >= 2 and running.agent.holder.current.index.damaged
        assert "the lists just compiled cannot be read" in caplog.text
        assert_listed_blocked(running)
        assert rcode(running, "www.bbc.co.uk", CHILD) == RCODE.NXDOMAIN  # not judged yet
        assert rcode(running, "www.bbc.co.uk", ADULT) == RCODE.NOERROR
        card["failing"] = False  # a card that reads again (or a new one)
        running.agent._rebuild_after = 0.0

        def rebuilt() -> bool:
            assert_listed_blocked(running)  # at every moment of the rebuild
            return not running.agent.holder.current.index.damaged

        until(rebuilt, 90)
        assert rcode(running, "www.bbc.co.uk", CHILD) == RCODE.NOERROR
