"""The upstream pool on its own, against a real loopback upstream: 0x20 letter case, the
injected clock, and the health probe."""

from __future__ import annotations

import asyncio
import contextlib

from agent.config import HostPort
from agent.dns import wire
from agent.dns.upstream import UpstreamFailed, UpstreamPool, scramble_case

from dnstools import ScriptedUpstream


def test_scramble_case_flips_only_letters_and_each_both_ways():
    name = wire.encode_name("a1-b.example")
    seen = [scramble_case(name) for _ in range(200)]
    assert all(s.lower() == name for s in seen), "only letter case changes"
    for i, c in enumerate(name):
        cases = {s[i] for s in seen}
        assert cases == ({c, c ^ 0x20} if chr(c).isalpha() else {c}), (i, cases)


def _query(name: str) -> tuple[bytes, bytes]:
    q = wire.parse_query(
        wire.HEADER.pack(0, 0x0100, 1, 0, 0, 0) + wire.encode_name(name) + b"\0\1\0\1"
    )
    return q.upstream_packet(), q.key[:-2]


def test_the_pool_keeps_time_by_the_clock_it_is_given():
    silent = ScriptedUpstream("silent").start()
    now = [1_000.0]

    async def run() -> None:
        pool = UpstreamPool(
            (HostPort("127.0.0.1", silent.port),),
            0.2,
            30.0,
            outage_window=60.0,
            probe_interval=3600,
            monotonic=lambda: now[0],
        )
        await pool.start()
        try:
            packet, key = _query("clock.example.com")
            with contextlib.suppress(UpstreamFailed):
                await pool.query(packet, key)
            assert pool.servers[0].dead_until == 1_030.0 and pool.down_until == 1_060.0
            assert pool.all_down()
            now[0] += 61
            assert not pool.all_down(), "the window is over by the injected clock"
        finally:
            pool.close()

    try:
        asyncio.run(run())
    finally:
        silent.stop()


def test_the_probe_brings_a_server_back_without_any_client_query():
    up = ScriptedUpstream("silent").start()

    async def run() -> None:
        pool = UpstreamPool((HostPort("127.0.0.1", up.port),), 0.2, 30.0, probe_interval=0.02)
        await pool.start()
        try:
            packet, key = _query("probe.example.com")
            with contextlib.suppress(UpstreamFailed):
                await pool.query(packet, key)
            assert pool.servers[0].down
            up.mode = "answer"
            async with asyncio.timeout(5):
                while pool.servers[0].down:
                    await asyncio.sleep(0.01)
            assert not pool.all_down()
            reply, label = await pool.query(packet, key)
            assert reply[3] & 0xF == wire.NOERROR and label == f"127.0.0.1:{up.port}"
        finally:
            pool.close()

    try:
        asyncio.run(run())
    finally:
        up.stop()


def test_an_ipv6_upstream_gets_the_same_fresh_ports_and_ids():
    up = ScriptedUpstream(host="::1").start()

    async def run() -> None:
        pool = UpstreamPool((HostPort("::1", up.port),), 1.0, 30.0)
        await pool.start()
        try:
            for i in range(50):
                packet, key = _query(f"v6-{i}.example.com")
                reply, _ = await pool.query(packet, key)
                assert reply[3] & 0xF == wire.NOERROR and reply[12:].startswith(key[:-4])
        finally:
            pool.close()

    try:
        asyncio.run(run())
    finally:
        up.stop()
    ports = {addr[1] for _, addr in up.received}
    assert len(up.received) == 50 and len(ports) >= 45
    assert {addr[0] for _, addr in up.received} == {"::1"}
