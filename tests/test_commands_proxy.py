"""`houserules proxy`: the mitmdump command line for each mode, with the same config and the
certificate and WireGuard keys in the data folder. (A WireGuard tunnel itself cannot be run in
the tests: it needs a phone, or a WireGuard client with root, on the other end.)"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from mitmproxy.test import taddons

from agent import config as config_mod
from agent.cli import main as cli
from agent.commands import proxy as cmd

ADDON = Path(__file__).resolve().parent.parent / "agent" / "proxy" / "addon.py"


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[store]\nurl = "sqlite:///data/hr.db"\n'
        '[proxy]\nlisten = "192.168.1.2:8081"\nwireguard_listen = "0.0.0.0:51821"\n'
        "max_body_kb = 512\n"
    )
    return path


def dry_run(config: Path, capsys, *argv: str) -> list[str]:
    assert cli(["--config", str(config), "proxy", "--dry-run", *argv]) == 0
    return shlex.split(capsys.readouterr().out)


def option(command: list[str], name: str) -> str:
    values = [command[i + 1] for i, a in enumerate(command) if a == "--set"]
    return next(v.split("=", 1)[1] for v in values if v.startswith(name + "="))


def test_regular_mode_listens_where_the_config_says_with_the_addon_and_the_config(config, capsys):
    command = dry_run(config, capsys)
    assert Path(command[0]).name == "mitmdump"
    assert command[command.index("--mode") + 1] == "regular@192.168.1.2:8081"
    assert command[command.index("-s") + 1] == str(ADDON)
    assert option(command, "houserules_config") == str(config.resolve())
    assert option(command, "confdir") == str(config.parent / "data" / "mitmproxy")
    assert option(command, "stream_large_bodies") == "512k"


def test_wireguard_mode_keeps_its_keys_and_qr_settings_in_the_data_folder(config, capsys):
    command = dry_run(config, capsys, "--mode", "wireguard")
    assert command[command.index("--mode") + 1] == "wireguard@0.0.0.0:51821"
    # mitmproxy writes wireguard.conf (the keys behind the QR code) into its confdir
    assert option(command, "confdir") == str(config.parent / "data" / "mitmproxy")


def test_the_mode_from_the_config(config, capsys):
    config.write_text(config.read_text().replace("[proxy]\n", '[proxy]\nmode = "wireguard"\n'))
    assert dry_run(config, capsys)[2].startswith("wireguard@")


def test_more_mitmdump_options_after_a_double_dash(config, capsys):
    command = dry_run(config, capsys, "--", "--set", "ssl_insecure=true")
    assert command[-2:] == ["--set", "ssl_insecure=true"]


def test_without_a_config_file_the_addon_finds_its_own():
    command = cmd.mitmdump_command(config_mod.Config())
    assert not any(a.startswith("houserules_config=") for a in command)


def test_without_mitmproxy_it_says_how_to_install_it(config, capsys, monkeypatch):
    monkeypatch.setattr(cmd, "find_mitmdump", lambda: None)
    assert cli(["--config", str(config), "proxy"]) == 1
    assert "pip install 'houserules[proxy]'" in capsys.readouterr().err


def test_the_addon_file_loads_as_a_mitmproxy_script():
    with taddons.context() as tctx:
        script = tctx.script(str(ADDON))  # what `mitmdump -s agent/proxy/addon.py` does
    assert [type(a).__name__ for a in script.addons] == ["HouseRules"]


def test_an_option_given_after_the_double_dash_replaces_ours(config, capsys):
    command = dry_run(config, capsys, "--", "--set", "termlog_verbosity=info")
    sets = [command[i + 1] for i, a in enumerate(command) if a == "--set"]
    assert [s for s in sets if s.startswith("termlog_verbosity=")] == ["termlog_verbosity=info"]
