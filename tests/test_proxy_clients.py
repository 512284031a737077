"""Who is asking: the same device and child the rules engine finds, and "inspect"."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.proxy.clients import asker, client_ip

from proxytools import PARENT, POLICY, SAM_PHONE, SAM_TABLET, STRANGER, build_policy


@pytest.mark.parametrize(
    ("peername", "ip"),
    [
        (("192.168.1.10", 5000), "192.168.1.10"),
        (("::ffff:192.168.1.10", 5000, 0, 0), "192.168.1.10"),
        (("fe80::1%eth0", 5000, 0, 2), "fe80::1"),
        (("10.0.0.1", 1234), "10.0.0.1"),  # a WireGuard phone, inside the tunnel
        (("not an address", 1), None),
        (None, None),
    ],
)
def test_client_ip(peername, ip):
    assert client_ip(peername) == ip


def test_a_childs_device_marked_inspect():
    who = asker(POLICY, SAM_TABLET)
    assert who.inspected and who.child_name == "Sam" and not who.adult
    assert who.key == SAM_TABLET


def test_the_same_child_on_a_device_not_marked_is_not_inspected():
    assert not asker(POLICY, SAM_PHONE).inspected
    assert not asker(POLICY, STRANGER).inspected


def test_an_adults_device():
    who = asker(POLICY, PARENT)
    assert who.inspected and who.adult and who.child is None


def test_the_mac_comes_first_as_for_the_dns():
    policy = replace(build_policy(), neighbours={SAM_TABLET: "02:00:00:00:00:10"})
    assert asker(policy, SAM_TABLET).key == "02:00:00:00:00:10"


def test_no_household_means_nothing_is_inspected():
    assert not asker(build_policy(None), SAM_TABLET).inspected
