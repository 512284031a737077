"""A child can't borrow an adult's identity: the real DNS and jobs on loopback, with the
neighbour table (IP -> MAC) read from a file in /proc/net/arp's format, since loopback has
no ARP. The real parser reads it (`agent.dns.neighbours.read_neighbours`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from dnslib import RCODE

from agent import config as config_mod
from agent.dns import neighbours
from agent.store import household as store
from agent.store.events import list_events

from agenttools import RunningAgent, until, write_config
from dnstools import Upstream, ask

LAPTOP_IP, ELSEWHERE = "127.0.0.50", "127.0.0.51"
CHILD_MAC, LAPTOP_MAC = "02:00:00:00:00:66", "02:00:00:00:00:50"
ADULTS_ONLY = "badtracker.test"  # in the upstream's zone, and on a list children do not get


def write_arp(path: Path, table: dict[str, str]) -> None:
    lines = ["IP address       HW type     Flags       HW address            Mask     Device"]
    lines += [
        f"{ip:<16} 0x1         0x2         {mac}     *        lo" for ip, mac in table.items()
    ]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


def test_a_child_at_mums_laptops_address_does_not_keep_adult_rules(tmp_path, upstream):
    listed = tmp_path / "adults.txt"
    listed.write_text(f"{ADULTS_ONLY}\n")
    cfg = config_mod.load(write_config(tmp_path, upstream.address, extra_list=listed))
    arp = tmp_path / "arp"
    write_arp(arp, {})
    with RunningAgent(cfg) as running:
        agent, jobs, engine = running.agent, running.jobs, running.engine
        agent.read_neighbours = lambda: neighbours.read_neighbours(arp, command=())

        def rcode(source: str) -> int:
            return ask(running.port, ADULTS_ONLY, source=source).header.rcode

        def neighbours_now(table: dict[str, str]) -> None:
            write_arp(arp, table)
            agent.refresh_neighbours()
            assert agent.holder.current.neighbours == table

        store.add_child(engine, "Sam", date(2015, 5, 1))
        laptop = store.add_device(engine, ip=LAPTOP_IP, name="Mum's laptop", owner="adult")
        until(lambda: rcode(LAPTOP_IP) == RCODE.NOERROR)  # an adult's address: allowed

        # The child sets the laptop's IP before the laptop is first seen.
        neighbours_now({LAPTOP_IP: CHILD_MAC})
        assert rcode(LAPTOP_IP) == RCODE.NOERROR  # known by IP only: anything can take an IP
        assert agent.writer.flush(5)
        jobs.record_seen_devices()
        waiting = store.get_device(engine, laptop.id)
        assert (waiting.mac, waiting.pending_mac) == (None, CHILD_MAC)  # not bound: it waits
        version = store.household_version(engine)
        until(lambda: agent.holder.current.household.version == version)

        # Back at their own address, the child does not carry adult rules with them...
        neighbours_now({ELSEWHERE: CHILD_MAC})
        assert rcode(ELSEWHERE) == RCODE.NXDOMAIN
        assert agent.writer.flush(5)
        jobs.record_seen_devices()
        # ...and the parent hears that a device may have been using the laptop's address.
        (clash,) = [e for e in list_events(engine) if e.kind == "address_clash"]
        assert (clash.details["ip"], clash.details["mac"]) == (ELSEWHERE, CHILD_MAC)
        assert clash.severity == "alert"

        # The real laptop answers at its address from another MAC: it is a newcomer until
        # the parent says it is the laptop; then it has adult rules and the child's MAC not.
        neighbours_now({LAPTOP_IP: LAPTOP_MAC})
        assert rcode(LAPTOP_IP) == RCODE.NXDOMAIN
        store.confirm_mac(engine, laptop.id, LAPTOP_MAC)
        until(lambda: rcode(LAPTOP_IP) == RCODE.NOERROR)
        neighbours_now({LAPTOP_IP: CHILD_MAC})
        assert rcode(LAPTOP_IP) == RCODE.NXDOMAIN
