"""The [proxy] section: the example documents every key with its default, mistakes name the
key."""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from agent import config as config_mod
from agent.config import Config, ConfigError, HostPort, ProxyConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_the_example_documents_every_key_with_its_default():
    text = EXAMPLE.read_text()
    raw = tomllib.loads(text)["proxy"]
    assert set(raw) == {f.name for f in fields(ProxyConfig)}
    section = text[text.index("[proxy]") :]
    for key in raw:
        line = re.search(rf"^{key} = ", section, re.M)
        before = section[: line.start()].rstrip().splitlines()[-1]
        assert before.startswith("#"), f"[proxy] {key} has no comment above it"
    assert config_mod.load(EXAMPLE).proxy == Config().proxy


def test_values_are_read():
    cfg = config_mod.parse(
        {
            "proxy": {
                "mode": "wireguard",
                "listen": "0.0.0.0:8081",
                "wireguard_listen": "192.168.1.2",
                "pinned_hosts": ["MyBank.co.uk."],
                "block_paths": ["youtube-shorts"],
                "concerns": "mine.toml",
                "kids_url": "http://box.home/kids",
            }
        },
        "t.toml",
        Path("/srv"),
    )
    p = cfg.proxy
    assert p.mode == "wireguard" and p.listen == HostPort("0.0.0.0", 8081)
    assert p.wireguard_listen == HostPort("192.168.1.2", 51820)
    assert p.pinned_hosts == ("mybank.co.uk",) and p.block_paths == ("youtube-shorts",)
    assert p.concerns == Path("mine.toml") and p.path_rules is None


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ({"mode": "transparent"}, "proxy.mode", "regular, wireguard"),
        ({"listen": "localhost:8081"}, "proxy.listen", "not an IP address"),
        ({"pinned_hosts": ["bank .com"]}, "proxy.pinned_hosts[0]", "not a domain"),
        ({"pinned_hosts": "bank.com"}, "proxy.pinned_hosts", "list of domain names"),
        ({"kids_url": "box.home/kids"}, "proxy.kids_url", "http"),
        ({"max_body_kb": 0}, "proxy.max_body_kb", "at least 1"),
        ({"record_searches": "yes"}, "proxy.record_searches", "true or false"),
        ({"colour": "red"}, "proxy.colour", "unknown key"),
    ],
)
def test_mistakes_name_the_key(table, key, words):
    with pytest.raises(ConfigError) as err:
        config_mod.parse({"proxy": table}, "t.toml", Path("."))
    assert err.value.key == key and words in err.value.problem
