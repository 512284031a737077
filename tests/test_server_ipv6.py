"""DNS over IPv6: the same answers and the same blocks over ::1 as over 127.0.0.1, UDP and TCP,
and the Pi's listen addresses ("0.0.0.0:53" beside "[::]:53") in a namespace of the test's own."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE
from test_server import decide, make_cfg

from agent.dns import server as server_mod
from agent.dns import wire
from agent.rules.policy import Policy, PolicyHolder

from dnstools import ServerThread, Upstream, ask

HERE = Path(__file__).resolve().parent


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no ::1")


@pytest.fixture
def upstream():
    up = Upstream().start()
    yield up
    up.stop()


@pytest.fixture(params=["compiled", "python"])
def dual(request, upstream, monkeypatch):
    if request.param == "python":
        monkeypatch.setattr(server_mod, "fastpath", None)
        monkeypatch.setattr(wire, "_parse_c", None)
    elif server_mod.fastpath is None:
        pytest.skip("the compiled fast path is not built here")
    cfg = make_cfg(upstream.address, listen=["127.0.0.1:0", "[::1]:0"])
    st = ServerThread(cfg, PolicyHolder(Policy(index=None)), decide, own_networks=()).start()
    yield st
    st.stop()


def _port(st: ServerThread, host: str) -> int:
    return next(port for h, port in st.server.addresses if h == host)


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_ipv6_clients_get_the_same_answers_and_blocks(dual, tcp):
    for host in ("127.0.0.1", "::1"):
        port = _port(dual, host)
        allowed = ask(port, "example.com", "AAAA", tcp=tcp, host=host)
        assert allowed.header.rcode == RCODE.NOERROR
        assert [QTYPE[rr.rtype] for rr in allowed.rr] == ["AAAA"]
        # A phone asking over IPv6 is no way round a block.
        assert ask(port, "ads.tracker.test", tcp=tcp, host=host).header.rcode == RCODE.NXDOMAIN


def test_ipv6_clients_are_held_to_allow_networks_and_the_boxs_own_prefix(upstream):
    cfg = make_cfg(upstream.address, listen=["[::1]:0"], allow_networks=["127.0.0.0/8"])
    holder = PolicyHolder(Policy(index=None))  # type: ignore[arg-type]
    outside = ServerThread(cfg, holder, decide, own_networks=()).start()
    try:
        for tcp in (False, True):
            reply = ask(outside.port, "example.com", tcp=tcp, host="::1")
            assert reply.header.rcode == RCODE.REFUSED
    finally:
        outside.stop()
    # ::1 stands in for the home's global prefix, which the box reads from its own addresses.
    home = ServerThread(cfg, holder, decide, own_networks=[ipaddress.ip_network("::1/128")]).start()
    try:
        assert ask(home.port, "example.com", host="::1").header.rcode == RCODE.NOERROR
        assert home.resolver.allow_networks[-1] == ipaddress.ip_network("::1/128")
    finally:
        home.stop()
    off = make_cfg(
        upstream.address,
        listen=["[::1]:0"],
        allow_networks=["127.0.0.0/8"],
        allow_own_prefixes=False,
    )
    ignored = ServerThread(off, holder, decide, own_networks=[ipaddress.ip_network("::1/128")])
    assert ignored.resolver.allow_networks == (ipaddress.ip_network("127.0.0.0/8"),)


# -- the Pi's listen addresses, in a network namespace ------------------------------------------

PI_SCRIPT = """
import sys
sys.path[:0] = [sys.argv[1]]
from dnslib import RCODE
from agent.rules.policy import Policy, PolicyHolder
from dnstools import ServerThread, Upstream, ask
from test_server import decide, make_cfg

up = Upstream().start()
cfg = make_cfg(up.address, listen=["0.0.0.0:53", "[::]:53"])
st = ServerThread(cfg, PolicyHolder(Policy(index=None)), decide, own_networks=()).start()
for host in ("127.0.0.1", "::1"):
    for tcp in (False, True):
        assert ask(53, "example.com", tcp=tcp, host=host).header.rcode == RCODE.NOERROR
        assert ask(53, "tracker.test", tcp=tcp, host=host).header.rcode == RCODE.NXDOMAIN
st.stop()
up.stop()
print("both answered")
"""


def _netns_possible() -> str:
    if os.geteuid() != 0:
        return "needs root to make a network namespace"
    if shutil.which("ip") is None:
        return "needs the ip command (Debian package iproute2)"
    return ""


@pytest.mark.skipif(bool(_netns_possible()), reason=_netns_possible() or "-")
def test_the_pi_listen_addresses_answer_on_port_53_over_ipv4_and_ipv6():
    """As install.sh writes them: both wildcards on port 53 at once, in a namespace of the
    test's own (its own loopback only; nothing reaches the machine's network)."""
    ns = f"hr-v6-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        done = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, "-c", PI_SCRIPT, str(HERE)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "both answered"
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
