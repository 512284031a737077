"""A timed unblock over loopback: the real DNS process, a real upstream, the real store.

A 9-year-old asks to unblock TikTok; a parent gives 15 minutes. The name resolves within a
couple of seconds, its answers never tell the device to keep them past the unblock's end, and
once the 15 minutes are over it is blocked again, with nothing written anywhere and no jobs
process running. The DNS process's wall clock is moved forward instead of waiting.
"""

from __future__ import annotations

import time
from datetime import date, datetime

import pytest
from dnslib import RCODE

from agent import config as config_mod
from agent.household import requests
from agent.store import household as store

from agenttools import TZ, RunningAgent, until, write_config
from dnstools import DEFAULT_ZONE, Upstream, ZoneResolver, ask

ZONE = DEFAULT_ZONE + "tiktok.com. 300 IN A 192.0.2.11\n"
CHILD = "127.0.0.5"


class Clock:
    """The DNS process's wall clock, ahead of the real one by `ahead` seconds."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


@pytest.fixture
def running(tmp_path):
    upstream = Upstream(ZoneResolver(ZONE)).start()
    cfg = config_mod.load(write_config(tmp_path, upstream.address))
    with RunningAgent(cfg, jobs=True) as agent:
        agent.clock = Clock()
        agent.agent.resolver.wallclock = agent.clock
        yield agent
    upstream.stop()


def answer(running, name: str = "tiktok.com"):
    return ask(running.port, name, source=CHILD)


def test_a_15_minute_unblock_lets_the_name_through_then_ends_by_itself(running) -> None:
    engine = running.engine
    ada = store.add_child(engine, "Ada", date(2017, 6, 1))  # 9: TikTok is for 13 and over
    store.add_device(engine, ip=CHILD, name="Ada's tablet", owner="child", child_id=ada.id)
    until(lambda: answer(running).header.rcode == RCODE.NXDOMAIN)

    now = datetime.now(TZ)
    asked = requests.add_request(engine, ada.id, "unblock", now, app="tiktok")
    requests.decide_request(engine, asked.id, True, None, now, unblock_for="15m")
    until(lambda: answer(running).header.rcode == RCODE.NOERROR, 3.0)
    reply = answer(running)
    assert str(reply.rr[0].rdata) == "192.0.2.11" and reply.rr[0].ttl <= 300
    assert store.list_rules(engine, ada.id) == ()  # nothing permanent was made

    running.clock.ahead = 15 * 60 - 3  # three seconds before the end
    reply = answer(running)
    assert reply.header.rcode == RCODE.NOERROR
    assert reply.rr[0].ttl <= 3  # the tablet may not keep the address past the end

    running.clock.ahead = 15 * 60 + 1  # the unblock is over: no write, no job, just the time
    reply = answer(running)
    assert reply.header.rcode == RCODE.NXDOMAIN
    assert answer(running, "example.com").header.rcode == RCODE.NOERROR  # the rest flows
