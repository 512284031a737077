"""DNS over TLS (port 853): the same answers and blocks as port 53, with the box's own
certificate; a client that never finishes its handshake, or speaks plain DNS to it, costs
nobody else anything."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from dnslib import RCODE, DNSRecord
from test_server import decide

from agent import boxcert
from agent import config as config_mod
from agent.rules.policy import Policy, PolicyHolder

from dnstools import ServerThread, Upstream, ask
from dnstools import ask_tls as over_tls


@pytest.fixture
def dot(tmp_path):
    up = Upstream().start()
    raw = {
        "dns": {"listen": ["127.0.0.1:0"], "tls_listen": ["127.0.0.1:0"], "upstream_timeout": 0.5},
        "upstream": {"servers": [up.address]},
        "dashboard": {"tls_dir": str(tmp_path / "tls")},
    }
    cfg = config_mod.parse(raw, "test", tmp_path)
    st = ServerThread(cfg, PolicyHolder(Policy(index=None)), decide, own_networks=()).start()
    st.tls_port = st.server.tls_addresses[0][1]
    st.ca = tmp_path / "tls" / boxcert.CA_CERT
    yield st
    st.stop()
    up.stop()


def ask_tls(st, name: str, qtype: str = "A") -> DNSRecord:
    return over_tls(st.tls_port, name, str(st.ca), boxcert.box_names()[0], qtype)


def test_dns_over_tls_gives_the_same_answers_and_blocks_as_port_53(dot):
    over_tls = ask_tls(dot, "example.com")
    plain = ask(dot.port, "example.com")
    assert over_tls.header.rcode == RCODE.NOERROR
    assert [str(r.rdata) for r in over_tls.rr] == [str(r.rdata) for r in plain.rr]
    assert ask_tls(dot, "ads.tracker.test").header.rcode == RCODE.NXDOMAIN
    assert ask_tls(dot, "use-application-dns.net").header.rcode == RCODE.NXDOMAIN


def test_stalled_handshakes_and_plain_dns_on_853_cost_nobody_anything(dot):
    stalled = [socket.create_connection(("127.0.0.1", dot.tls_port)) for _ in range(10)]
    plain = socket.create_connection(("127.0.0.1", dot.tls_port), timeout=5)
    query = DNSRecord.question("example.com").pack()
    plain.sendall(struct.pack(">H", len(query)) + query)  # not a TLS handshake: dropped
    try:
        started = time.monotonic()
        assert ask_tls(dot, "example.com").header.rcode == RCODE.NOERROR
        assert ask(dot.port, "example.com").header.rcode == RCODE.NOERROR
        assert time.monotonic() - started < 3
        closing = plain.recv(100)  # the server closed it (at most a TLS alert first)
        assert closing == b"" or closing[:1] == b"\x15"
    finally:
        for s in (*stalled, plain):
            s.close()
