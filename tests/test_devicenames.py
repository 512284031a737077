"""Names a parent can recognise: the maker from the MAC, the device's own name, private MACs."""

from __future__ import annotations

import pytest

from agent import devicenames
from agent.rules.household import Device


@pytest.mark.parametrize(
    ("mac", "made"),
    [
        ("3c:22:fb:01:02:03", "Apple"),
        ("B8:27:EB:00:00:01", "Raspberry Pi Foundation"),
        ("f0:27:2d:10:20:30", "Amazon"),
        ("da:a1:19:00:00:01", None),  # private: made up by the phone, no maker in it
        ("00:00:00:00:00:00", "XEROX"),
        (None, None),
        ("zz:00:00:00:00:00", None),
    ],
)
def test_the_maker_comes_from_the_ieee_registry(mac, made):
    assert devicenames.maker(mac) == made


@pytest.mark.parametrize(
    ("org", "short"),
    [
        ("Samsung Electronics Co.,Ltd", "Samsung"),
        ("Apple, Inc.", "Apple"),
        ("Amazon Technologies Inc.", "Amazon"),
        ("Nintendo Co.,Ltd", "Nintendo"),
        ("Inc.", "Inc."),
    ],
)
def test_maker_names_are_short(org, short):
    assert devicenames.short_maker(org) == short


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Sams-iPad.local", "Sams iPad"),
        ("Sam's iPhone", "Sam's iPhone"),
        ("<script>alert(1)</script>", "scriptalert(1)script"),
        ("Galaxy-Tab-A.", "Galaxy Tab A"),
        ("", None),
        ("...", None),
        ("x" * 200, "x" * 63),
    ],
)
def test_a_devices_own_name_is_made_safe_to_show(raw, clean):
    assert devicenames.clean_hostname(raw) == clean


def test_the_name_shown_prefers_the_parents_then_the_devices_then_the_maker():
    apple = "3c:22:fb:01:02:03"
    assert devicenames.recognisable(Device(1, mac=apple, name="Sam's iPad", hostname="x")) == (
        "Sam's iPad"
    )
    assert devicenames.recognisable(Device(1, mac=apple, hostname="Sams iPad")) == "Sams iPad"
    assert devicenames.recognisable(Device(1, mac=apple)) == "Apple device"
    private = Device(1, mac="da:a1:19:00:00:01")
    assert devicenames.recognisable(private) == "Device with a private address"
    assert devicenames.recognisable(Device(1, ip="192.168.1.9")) == "192.168.1.9"
