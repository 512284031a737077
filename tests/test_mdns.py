"""mDNS names: reading a device's answer, asking for real across a veth in namespaces the test
makes (a small responder stands in for the phone), and the job that names quiet devices."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest
from dnslib import PTR, QTYPE, RR, DNSRecord
from test_dhcp import HERE, Home, _why_not

from agent import config as config_mod
from agent.ops import mdns
from agent.ops.jobs import Jobs
from agent.store import household as store

from agenttools import until, write_config


def _reply(owner: str, target: str) -> bytes:
    reply = DNSRecord.question(owner, "PTR").reply()
    reply.add_answer(RR(owner, QTYPE.PTR, rdata=PTR(target), ttl=120))
    return reply.pack()


def test_a_devices_answer_names_it():
    packet = _reply("40.1.168.192.in-addr.arpa.", "Sams-iPad.local.")
    assert mdns.answers(packet) == {"192.168.1.40": "Sams-iPad.local"}
    assert mdns.answers(_reply("example.com.", "x.local.")) == {}
    assert mdns.answers(_reply("1.2.in-addr.arpa.", "x.local.")) == {}
    assert mdns.answers(b"\x00\x01garbage") == {}
    assert mdns.reverse_name("192.168.1.40") == "40.1.168.192.in-addr.arpa."


def test_the_job_names_devices_without_a_name_by_their_mac(tmp_path):
    cfg = config_mod.load(write_config(tmp_path, "127.0.0.1:9"))
    jobs = Jobs(cfg)
    now = datetime.now(UTC).timestamp()
    store.record_seen(
        jobs.engine,
        {
            "192.168.1.40": ("3c:22:fb:00:00:40", now),
            "192.168.1.41": ("3c:22:fb:00:00:41", now),
            "192.168.1.42": (None, now),  # no MAC: nothing to keep a name against
        },
    )
    asked: list[list[str]] = []

    def lookup(ips: list[str]) -> dict[str, str]:
        asked.append(sorted(ips))
        return {"192.168.1.40": "Sams-iPad.local", "192.168.1.42": "x.local"}

    assert jobs.name_devices(lookup) == 1
    assert asked == [["192.168.1.40", "192.168.1.41"]]
    named = {d.ip: d.hostname for d in store.list_devices(jobs.engine)}
    assert named["192.168.1.40"] == "Sams iPad" and named["192.168.1.41"] is None
    jobs.name_devices(lookup)
    assert asked[-1] == ["192.168.1.41"]  # named devices are not asked again


RESPONDER = """
import socket, struct, sys
sys.path[:0] = [sys.argv[1]]
from dnslib import PTR, QTYPE, RR, DNSRecord
me, name = "198.51.100.50", "Sams-iPad.local."
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 5353))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
             socket.inet_aton("224.0.0.251") + socket.inet_aton(me))
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(9000)
    q = DNSRecord.parse(data)
    owner = str(q.q.qname)
    if owner == "50.100.51.198.in-addr.arpa.":
        reply = q.reply()
        reply.add_answer(RR(owner, QTYPE.PTR, rdata=PTR(name), ttl=120))
        s.sendto(reply.pack(), addr)  # legacy unicast: straight back to the asker
"""
LOOKUP = """
from agent.ops import mdns
print(mdns.lookup_names(["198.51.100.50", "198.51.100.51"], timeout=2,
                        interface_ip="198.51.100.1"))
"""


@pytest.mark.skipif(bool(_why_not()), reason=_why_not() or "-")
def test_a_device_on_the_network_gives_its_mdns_name():
    with Home() as home:
        home.run(home.dev, "ip", "addr", "add", "198.51.100.50/24", "dev", "vdev")
        responder = home.start(home.dev, sys.executable, "-c", RESPONDER, str(HERE))
        assert responder.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        found: list[str] = []
        until(lambda: found.append(home.run(home.box, sys.executable, "-c", LOOKUP).stdout)
              or "Sams-iPad.local" in found[-1], 20)  # fmt: skip
        assert found[-1].strip() == "{'198.51.100.50': 'Sams-iPad.local'}"
