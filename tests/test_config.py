"""The config: the example is complete and valid, and mistakes name the file and the key."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import fields, replace
from pathlib import Path

import pytest

from agent import config as config_mod
from agent.config import Config, ConfigError, HostPort

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_example_loads_and_matches_the_defaults():
    cfg = config_mod.load(EXAMPLE)
    defaults = Config()
    for section in ("dns", "upstream", "store", "dashboard", "rules"):
        if section == "upstream":  # a fresh install sends children's lookups to a family filter
            assert cfg.upstream.children == (HostPort("1.1.1.3", 53), HostPort("1.0.0.3", 53))
            assert defaults.upstream.children == ()  # tests with their own upstream keep it
            assert replace(cfg.upstream, children=()) == defaults.upstream
            continue
        assert getattr(cfg, section) == getattr(defaults, section), section
    # The shipped lists of the defaults, then the maintained lists that are downloaded.
    shipped = [s.name for s in defaults.blocklists.sources]
    assert shipped == ["bypass", "adult-common", "gambling-common"]
    assert [s.name for s in cfg.blocklists.sources] == [*shipped, "adult", "gambling", "malware"]
    assert all(cfg.resolve(s.path).is_file() for s in cfg.blocklists.sources if s.shipped)
    assert {s.category for s in cfg.blocklists.sources if s.url} == {"adult", "gambling", "malware"}
    assert cfg.database_path == EXAMPLE.parent / "data" / "houserules.db"


def test_every_setting_is_documented_in_the_example():
    text = EXAMPLE.read_text()
    raw = tomllib.loads(text)
    sections = [f.name for f in fields(Config) if f.name not in ("base_dir", "source", "retired")]
    assert {"dns", "upstream", "store", "blocklists", "dashboard", "rules"} <= set(sections)
    for section in sections:
        keys = {f.name for f in fields(getattr(Config(), section))}
        assert keys <= set(raw[section]), f"undocumented in [{section}]: {keys - set(raw[section])}"
        for key in keys - {"sources"}:
            line = re.search(rf"^{key} = ", text, re.M)
            before = text[: line.start()].rstrip().splitlines()[-1]
            assert before.startswith("#"), f"[{section}] {key} has no comment above it"


def test_the_required_key_names_are_kept():
    cfg = config_mod.parse(
        {
            "dns": {"listen": ["127.0.0.1:5353"], "block_mode": "null", "block_ttl": 5},
            "upstream": {"servers": ["9.9.9.9", "1.1.1.1:53", "[2620:fe::fe]:53"]},
            "store": {"url": "sqlite:///x.db"},
            "dashboard": {"listen": "0.0.0.0:8080"},
            "rules": {"always_block": ["malware", "phishing"]},
            "blocklists": {
                "sources": [{"name": "b", "category": "bypass", "path": "b.txt", "format": "hosts"}]
            },
        },
        "t.toml",
        Path("/srv"),
    )
    assert cfg.upstream.servers == (
        HostPort("9.9.9.9", 53),
        HostPort("1.1.1.1", 53),
        HostPort("2620:fe::fe", 53),
    )
    assert cfg.dns.block_mode == "null" and cfg.dns.block_ttl == 5
    assert cfg.blocklists.sources[0].path == Path("b.txt")
    assert cfg.resolve("b.txt") == Path("/srv/b.txt")
    assert ipaddress.ip_network("10.0.0.0/8") in cfg.dns.allow_networks


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ('[dns]\nblock_mode = "sinkhole"\n', "dns.block_mode", "nxdomain, null"),
        ('[dns]\nlisten = ["localhost:53"]\n', "dns.listen[0]", "not an IP address"),
        ('[dns]\nlisten = ["127.0.0.1:99999"]\n', "dns.listen[0]", "port"),
        ("[dns]\nblock_ttl = -1\n", "dns.block_ttl", "whole number"),
        ('[dns]\nallow_networks = ["everyone"]\n', "dns.allow_networks[0]", "not a network"),
        ("[dns]\nfast = true\n", "dns.fast", "unknown key"),
        ('[dns]\nlocal_domains = ["my home"]\n', "dns.local_domains[0]", "not a domain name"),
        ('[dashboard]\nhostnames = "box.lan"\n', "dashboard.hostnames", "list of domain names"),
        ('[upstream]\nservers = ["9.9.9.9:0"]\n', "upstream.servers[0]", "from 1 to 65535"),
        ("[upstream]\nservers = []\n", "upstream.servers", "non-empty"),
        ('[upstream]\nchildren = ["family"]\n', "upstream.children[0]", "not an IP address"),
        (
            '[upstream]\nchildren_block_addresses = ["blockpage"]\n',
            "upstream.children_block_addresses[0]",
            "not an IP address",
        ),
        ('[store]\nurl = "houserules.db"\n', "store.url", "database URL"),
        ('[rules]\nunassigned = "nobody"\n', "rules.unassigned", "youngest, adult"),
        (
            '[[blocklists.sources]]\nname = "x"\ncategory = "c"\n',
            "blocklists.sources[0]",
            "exactly one of",
        ),
        (
            '[[blocklists.sources]]\nname = "x"\ncategory = "c"\nurl = "ftp://a"\n',
            "blocklists.sources[0].url",
            "http",
        ),
        (
            '[[blocklists.sources]]\nname = "x"\npath = "a"\n',
            "blocklists.sources[0].category",
            "required",
        ),
        ("[tea]\nmilk = 1\n", "tea", "unknown key"),
    ],
)
def test_a_bad_config_names_the_file_the_key_and_the_problem(tmp_path, text, key, words):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path)
    assert caught.value.key == key
    message = str(caught.value)
    assert str(path) in message and key in message and words in message


def test_not_toml_and_missing_files_are_clear(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text("[dns\nlisten = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config_mod.load(bad)
    with pytest.raises(ConfigError, match="file not found"):
        config_mod.load(tmp_path / "nope.toml")


def test_no_file_means_built_in_defaults_with_the_shipped_bypass_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert config_mod.find_config(None) is None or not Path("config.toml").exists()
    cfg = config_mod.load(None)
    assert cfg.dns.listen == (HostPort("127.0.0.1", 5353),)
    assert cfg.blocklists.sources[0].path.name == "bypass.txt"
