"""Each device's own DNS-over-TLS name (`<dot id>.<box name>`, as AdGuard Home's ClientIDs):
the real DNS process and store on loopback, real TLS verified against the box's own authority.
The queries on a connection that asked for a device's name are decided for that device,
whatever address they come from; a name no device has gets the unknown-device rules."""

from __future__ import annotations

import ssl
from datetime import date

import pytest
from dnslib import RCODE, DNSRecord

from agent import boxcert, dotnames
from agent import config as config_mod
from agent.store import household as store

from agenttools import RunningAgent, until, write_config
from dnstools import DEFAULT_ZONE, Upstream, ZoneResolver, ask
from dnstools import ask_tls as over_tls

HERE = "127.0.0.1"  # where every test query comes from
IPAD_IP = "127.0.0.60"  # where Sam's iPad is registered: not where its queries come from
GAME, GAME_IP = "roblox.com", "192.0.2.90"


@pytest.fixture
def upstream():
    up = Upstream(ZoneResolver(DEFAULT_ZONE + f"{GAME}. 300 IN A {GAME_IP}\n")).start()
    yield up
    up.stop()


@pytest.fixture
def running(tmp_path, upstream):
    path = write_config(tmp_path, upstream.address)
    text = path.read_text()
    text = text.replace(
        '[dns]\nlisten = ["127.0.0.1:0"]',
        '[dns]\nlisten = ["127.0.0.1:0"]\ntls_listen = ["127.0.0.1:0"]',
    )
    text = text.replace("[dashboard]\n", f'[dashboard]\ntls_dir = "{tmp_path / "tls"}"\n')
    path.write_text(text)
    cfg = config_mod.load(path)
    with RunningAgent(cfg) as agent:
        agent.tls_port = agent.agent.server.tls_addresses[0][1]
        agent.ca = tmp_path / "tls" / boxcert.CA_CERT
        yield agent


def ask_tls(running, server_name: str, name: str) -> DNSRecord:
    """One query over DNS over TLS from HERE, asking for `server_name` and verifying the box's
    certificate for it against the box's authority (as the phone with the profile does)."""
    return over_tls(running.tls_port, name, str(running.ca), server_name, host=HERE)


def answered(reply: DNSRecord) -> list[str]:
    return [str(r.rdata) for r in reply.rr]


def test_a_device_is_known_by_its_own_name_whatever_its_address(running):
    engine = running.engine
    sam = store.add_child(engine, "Sam", date(2015, 5, 1))
    ipad = store.add_device(engine, ip=IPAD_IP, name="Sam's iPad", owner="child", child_id=sam.id)
    store.add_device(engine, ip=HERE, name="Mum's laptop", owner="adult")
    store.add_rule(engine, sam.id, "block", "app", "roblox")
    version = store.household_version(engine)
    until(lambda: running.agent.holder.current.household.version == version)
    box_name = boxcert.device_box_name()
    assert ipad.dot_id and ipad.dot_id not in (str(ipad.id), f"{ipad.id:010d}")

    # Plain DNS from HERE is Mum's laptop: the game is allowed.
    assert answered(ask(running.port, GAME, source=HERE)) == [GAME_IP]
    # The same address over TLS, asking for the iPad's own name: Sam's rules, blocked.
    own = ask_tls(running, dotnames.device_name(ipad.dot_id, box_name), GAME)
    assert own.header.rcode != RCODE.SERVFAIL and GAME_IP not in answered(own)
    assert answered(ask_tls(running, dotnames.device_name(ipad.dot_id, box_name), "example.com"))
    # Over TLS to the box's own name the address decides, as on port 53.
    assert answered(ask_tls(running, box_name, GAME)) == [GAME_IP]
    # A name no device has: the unknown-device rules (the youngest child's), never an error,
    # and never the rules of the address it came from.
    stranger = ask_tls(running, dotnames.device_name("zzzzzzzzzz", box_name), GAME)
    assert stranger.header.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN)
    assert GAME_IP not in answered(stranger)

    # The query log keeps the address the queries came from (devices seen are read from it).
    assert running.agent.writer.flush(5)
    seen = running.jobs.record_seen_devices()
    assert seen == 0
    assert [d.ip for d in store.list_devices(engine) if d.name == "Sam's iPad"] == [IPAD_IP]


def test_the_certificate_covers_every_devices_name_and_no_other_box(running):
    box_name = boxcert.device_box_name()
    reply = ask_tls(running, f"{dotnames.new_dot_id()}.{box_name}", "example.com")
    assert reply.header.rcode == RCODE.NOERROR
    with pytest.raises(ssl.SSLCertVerificationError):
        ask_tls(running, "abcdefghij.otherbox.local", "example.com")


def test_device_names_are_random_labels_that_find_only_their_device():
    ids = {dotnames.new_dot_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(len(i) == dotnames.LENGTH and set(i) <= set(dotnames.ALPHABET) for i in ids)
    names = ("box", "box.local")
    assert dotnames.client_key("AbC.box.local.", names) == "#abc"
    assert dotnames.client_key("box.local", names) is None
    assert dotnames.client_key("abc.other.local", names) is None
    assert dotnames.client_key(None, names) is None


def test_a_box_certificate_from_before_device_names_is_renewed_to_cover_them(tmp_path):
    tls = tmp_path / "tls"
    raw = {"dns": {"tls_listen": ["127.0.0.1:0"]}, "dashboard": {"tls_dir": str(tls)}}
    cfg = config_mod.parse(raw, "test", tmp_path)
    before = boxcert.ensure(tls, boxcert.box_names(), ["127.0.0.1"])
    ca = (tls / boxcert.CA_CERT).read_bytes()
    wanted = dotnames.wildcard(boxcert.device_box_name())
    assert wanted not in before.names
    after = boxcert.for_config(cfg)
    assert wanted in after.names and set(before.names) <= set(after.names)
    assert after.fingerprint != before.fingerprint
    assert (tls / boxcert.CA_CERT).read_bytes() == ca  # phones that trust the box still do
    assert boxcert.for_config(cfg).fingerprint == after.fingerprint  # made once, then kept
