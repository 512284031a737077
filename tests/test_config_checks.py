"""A config that passes the check runs: every value `run` would trip on is refused by loading
(so by `check-config` and by `run` alike) with the file, the key and what is wrong; legal but
risky values are warned about."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from agent import config as config_mod
from agent import config_checks
from agent.cli import main as cli
from agent.config import ConfigError, StoreConfig
from agent.ops import runner

HOUSERULES = str(Path(sys.executable).with_name("houserules"))
KEY = "3f" * 32  # what HouseRules writes: 64 hex digits


def key_file(mode: int, text: str = KEY + "\n") -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        path = tmp / "secret"
        path.write_text(text)
        os.chmod(path, mode)

    return make


def key_link(tmp: Path) -> None:
    (tmp / "real").mkdir()
    key_file(0o600)(tmp / "real")  # a private key elsewhere, reached through a link
    (tmp / "secret").symlink_to(tmp / "real" / "secret")


def key_folder(tmp: Path) -> None:
    (tmp / "secret").mkdir(mode=0o700)


SECRET = '[dashboard]\nsecret_key_file = "{tmp}/secret"\n'
Row = tuple[str, str, str, Callable[[Path], None] | None]
BAD: list[Row] = [
    ('[rules]\ntimezone = "Mars/Olympus"\n', "rules.timezone", "not a known time zone", None),
    ('[rules]\ntimezone = "../../etc/passwd"\n', "rules.timezone", "not a known time zone", None),
    ("[dns]\nblock_ttl = 99999999999\n", "dns.block_ttl", "from 0 to 2147483647", None),
    ("[dns]\nblock_ttl = 2147483648\n", "dns.block_ttl", "from 0 to 2147483647", None),
    ("[dns]\nblock_ttl = -1\n", "dns.block_ttl", "0 or more", None),
    ("[dns]\ncache_max_ttl = 4294967296\n", "dns.cache_max_ttl", "2147483647", None),
    ("[dns]\nnegative_max_ttl = 2147483648\n", "dns.negative_max_ttl", "2147483647", None),
    ("[dns]\nstale_ttl = 2147483648\n", "dns.stale_ttl", "2147483647", None),
    ("[dns]\nstale_max_age = 9999999999\n", "dns.stale_max_age", "2147483647", None),
    ("[dns]\ncache_size = 0\n", "dns.cache_size", "from 1 to", None),
    ("[dns]\nupstream_timeout = inf\n", "dns.upstream_timeout", "finite", None),
    ("[dns]\nupstream_timeout = nan\n", "dns.upstream_timeout", "finite", None),
    ("[dns]\nupstream_timeout = 3600\n", "dns.upstream_timeout", "from 0.01 to 60", None),
    ('[dns]\nlisten = ["127.0.0.1:65536"]\n', "dns.listen[0]", "port", None),
    ('[dns]\nlisten = ["127.0.0.1:-1"]\n', "dns.listen[0]", "port", None),
    ('[dns]\nlisten = ["203.0.113.7:53"]\n', "dns.listen[0]", "not an address of this", None),
    (
        '[dns]\nlisten = ["127.0.0.1:5304", "127.0.0.1:5304"]\n',
        "dns.listen[1]",
        "listed twice",
        None,
    ),
    ('[dashboard]\nlisten = "198.51.100.9:8080"\n', "dashboard.listen", "not an address", None),
    (
        '[dns]\nlisten = ["127.0.0.1:5300"]\n[upstream]\nservers = ["127.0.0.1:5300"]\n',
        "upstream.servers[0]",
        "this box's own DNS",
        None,
    ),
    (
        '[dns]\nlisten = ["0.0.0.0:5301"]\n[upstream]\nservers = ["9.9.9.9", "127.0.0.2:5301"]\n',
        "upstream.servers[1]",
        "this box's own DNS",
        None,
    ),
    (
        '[dns]\nlisten = ["[::]:5302"]\n[upstream]\nservers = ["[::1]:5302"]\n',
        "upstream.servers[0]",
        "this box's own DNS",
        None,
    ),
    (
        '[dns]\nlisten = ["127.0.0.1:5305"]\n[upstream]\nchildren = ["127.0.0.1:5305"]\n',
        "upstream.children[0]",
        "this box's own DNS",
        None,
    ),
    (
        '[dns]\nlisten = ["127.0.0.1:5303"]\n[dashboard]\nlisten = "127.0.0.1:5303"\n',
        "dashboard.listen",
        "where the DNS listens",
        None,
    ),
    (
        '[dns]\nallow_networks = ["0.0.0.0/0", "::/0"]\n',
        "dns.allow_networks[0]",
        "open resolver",
        None,
    ),
    ('[dns]\nallow_networks = ["::/0"]\n', "dns.allow_networks[0]", "open resolver", None),
    (
        '[dns]\nallow_networks = ["192.168.0.0/16", "8.0.0.0/7"]\n',
        "dns.allow_networks[1]",
        "dns.open_resolver = true",
        None,
    ),
    ("[dashboard]\nlockout_seconds = 0\n", "dashboard.lockout_seconds", "throttle off", None),
    (
        "[dashboard]\nlogin_failures_allowed = 0\n",
        "dashboard.login_failures_allowed",
        "lock every login",
        None,
    ),
    (
        "[dashboard]\nlockout_max_seconds = 10\n",
        "dashboard.lockout_max_seconds",
        "not be less than lockout_seconds",
        None,
    ),
    ("[dashboard]\nsession_days = 0\n", "dashboard.session_days", "from 1 to 365", None),
    (
        '[dashboard]\nsecret_key_file = "/etc/passwd"\n',
        "dashboard.secret_key_file",
        "may be read by others",
        None,
    ),
    (SECRET, "dashboard.secret_key_file", "may be read by others", key_file(0o644)),
    (SECRET, "dashboard.secret_key_file", "may be read by others", key_file(0o640)),
    (SECRET, "dashboard.secret_key_file", "not a key", key_file(0o600, "root:x:0:0\nme:x:1\n")),
    (SECRET, "dashboard.secret_key_file", "not a key", key_file(0o600, "short\n")),
    (SECRET, "dashboard.secret_key_file", "not a key", key_file(0o600, "a key with spaces" * 3)),
    (SECRET, "dashboard.secret_key_file", "not a key", key_file(0o600, "")),
    (SECRET, "dashboard.secret_key_file", "cannot be read", key_file(0o600, "k" * 9000)),
    (SECRET, "dashboard.secret_key_file", "plain file", key_link),
    (SECRET, "dashboard.secret_key_file", "plain file", key_folder),
    ("[store]\nlog_queue_kb = 0\n", "store.log_queue_kb", "from 1 to", None),
    ('[store]\nurl = "mysql://hr@db.lan/house"\n', "store.url", "postgresql://", None),
    (
        '[store]\nurl = "postgresql+psycopg2://hr@db.lan/house"\n',
        "store.url",
        "through psycopg 3",
        None,
    ),
    ("[store]\nretention_days = 0\n", "store.retention_days", "from 1 to", None),
    ("[store]\nhistory_days = 7\n", "store.history_days", "retention_days", None),
    ("[blocklists]\nrefresh_hours = 0\n", "blocklists.refresh_hours", "from 0.1 to", None),
    ("[blocklists]\nmax_junk_ratio = 2\n", "blocklists.max_junk_ratio", "from 0 to 1", None),
    (
        "[rules]\nhousehold_poll_seconds = 1e12\n",
        "rules.household_poll_seconds",
        "from 0.05 to 3600",
        None,
    ),
    ("[rules]\nneighbour_refresh_seconds = 0\n", "rules.neighbour_refresh_seconds", "0.1", None),
    ("[email]\ntimeout = inf\n", "email.timeout", "finite", None),
    ("[proxy]\nqueue_size = 99999999999\n", "proxy.queue_size", "2147483647", None),
]


def write(tmp: Path, text: str, setup: Callable[[Path], None] | None) -> Path:
    if setup is not None:
        setup(tmp)
    path = tmp / "config.toml"
    path.write_text(text.replace("{tmp}", str(tmp)))
    return path


@pytest.mark.parametrize(("text", "key", "words", "setup"), BAD)
def test_a_value_run_would_trip_on_is_refused_naming_the_key(tmp_path, text, key, words, setup):
    path = write(tmp_path, text, setup)
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path)
    assert caught.value.key == key
    message = str(caught.value)
    assert str(path) in message and f"[{key}]" in message and words in message, message


@pytest.mark.parametrize(("text", "key", "words", "setup"), BAD)
def test_check_config_and_run_both_refuse_with_one_line(tmp_path, capsys, text, key, words, setup):
    path = write(tmp_path, text, setup)
    assert cli(["--config", str(path), "check-config"]) == 2
    checked = capsys.readouterr().err
    # `houserules run` becomes the DNS process (exec) before it reads the config: a real one
    ran = subprocess.run(
        [HOUSERULES, "--config", str(path), "run"], capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 2
    said = [line for line in ran.stderr.splitlines() if line != "HouseRules starting"]
    for lines in (checked.splitlines(), said):
        assert len(lines) == 1 and key in lines[0] and str(path) in lines[0], lines


def test_an_open_resolver_loads_when_the_parent_says_so_and_is_warned_about(tmp_path, capsys):
    path = write(
        tmp_path, '[dns]\nallow_networks = ["0.0.0.0/0", "::/0"]\nopen_resolver = true\n', None
    )
    cfg = config_mod.load(path)
    assert any("dns.open_resolver" in w for w in config_checks.warnings(cfg))
    assert cli(["--config", str(path), "check-config"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "dns.open_resolver" in err and "anyone" in err


def test_a_public_network_a_home_could_own_is_a_warning_not_a_refusal(tmp_path, capsys):
    path = write(tmp_path, '[dns]\nallow_networks = ["81.2.69.0/24", "2a00:1:2::/48"]\n', None)
    warned = config_checks.warnings(config_mod.load(path))
    assert len(warned) == 2 and all("dns.allow_networks" in w for w in warned)


def test_the_default_and_the_example_config_raise_no_warning():
    example = Path(__file__).resolve().parent.parent / "config.example.toml"
    assert config_checks.warnings(config_mod.load(example)) == []


def test_a_private_key_file_as_houserules_writes_it_passes(tmp_path):
    path = write(tmp_path, SECRET, key_file(0o600))
    assert config_mod.load(path).dashboard.secret_key_file == tmp_path / "secret"


def test_run_logs_the_warnings_at_start(tmp_path, caplog, monkeypatch):
    path = write(tmp_path, '[dns]\nallow_networks = ["81.2.69.0/24"]\n', None)
    monkeypatch.setattr(runner, "run", lambda cfg: 0)  # the start-up up to serving
    with caplog.at_level(logging.WARNING):
        assert runner.main(["--config", str(path)]) == 0
    assert "dns.allow_networks" in caplog.text and "81.2.69.0/24" in caplog.text


def test_a_key_an_earlier_version_read_still_loads_and_is_named(tmp_path, capsys, caplog):
    """A box's config from before the log queue was sized in kilobytes: after the upgrade the
    box must come back up, and the parent is told what became of the old key."""
    path = write(tmp_path, "[store]\nlog_queue_size = 100000\n", None)
    cfg = config_mod.load(path)
    assert cfg.store.log_queue_kb == StoreConfig().log_queue_kb
    warned = config_checks.warnings(cfg)
    assert len(warned) == 1 and "log_queue_size is no longer used" in warned[0]
    assert "log_queue_kb" in warned[0]
    assert cli(["--config", str(path), "check-config"]) == 0
    assert "log_queue_size is no longer used" in capsys.readouterr().err
    path.write_text("[store]\nlog_queue_size = 100000\nlog_queue_kb = 0\n")
    with pytest.raises(config_mod.ConfigError, match="log_queue_kb"):
        config_mod.load(path)  # the keys it does read are checked as before
