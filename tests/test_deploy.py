"""deploy/: the systemd units and the installer, run into a throwaway root (no user, no
systemctl, the real system untouched), twice, then uninstalled."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import config
from agent.config import HostPort

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
UNITS = ("houserules.service", "houserules-proxy.service")
SYSTEM_UNITS = next(
    (p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None
)

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "ReadWritePaths": "/var/lib/houserules",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
    "SystemCallFilter": "@system-service",
    "User": "houserules",
    "Group": "houserules",
    "Restart": "on-failure",
}


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as section -> key -> values (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"line {number} is not key=value: {raw!r}"
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service(name: str) -> dict[str, str]:
    unit = parse_unit((DEPLOY / name).read_text())
    assert set(unit) == {"Unit", "Service", "Install"}
    return {k: v[-1] for k, v in unit["Service"].items()}


# -- the units ---------------------------------------------------------------------------------


def test_the_dns_unit_runs_unprivileged_with_port_53_and_hardening() -> None:
    s = service("houserules.service")
    assert (
        s["ExecStart"]
        == "/opt/houserules/venv/bin/houserules --config /etc/houserules/config.toml run"
    )
    assert s["AmbientCapabilities"] == s["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"
    assert {k: s.get(k) for k in HARDENING} == HARDENING
    assert s["Type"] == "simple"
    assert parse_unit((DEPLOY / "houserules.service").read_text())["Install"]["WantedBy"] == [
        "multi-user.target"
    ]


def test_the_proxy_unit_is_separate_with_no_privileges_at_all() -> None:
    s = service("houserules-proxy.service")
    assert s["ExecStart"].endswith("houserules --config /etc/houserules/config.toml proxy")
    assert s["AmbientCapabilities"] == s["CapabilityBoundingSet"] == ""
    assert {k: s.get(k) for k in HARDENING} == HARDENING


def test_install_sh_and_uninstall_sh_are_valid_bash_with_help() -> None:
    for script in ("install.sh", "uninstall.sh"):
        path = DEPLOY / script
        assert os.access(path, os.X_OK), f"{script} is not executable"
        subprocess.run(["bash", "-n", str(path)], check=True)
        done = subprocess.run([str(path), "--help"], capture_output=True, text=True, check=True)
        assert "--root DIR" in done.stdout and "set -euo" not in done.stdout


# -- the installer, into a throwaway root --------------------------------------------------------


def _offline_build_possible() -> str:
    """Why the installer cannot build HouseRules here without the internet ("" if it can)."""
    version = tuple(
        int(p) for p in re.findall(r"\d+", importlib.metadata.version("setuptools"))[:2]
    )
    if version < (70, 1) and importlib.util.find_spec("wheel") is None:
        return (
            "building HouseRules offline needs setuptools>=70.1 (or wheel) in the test venv: "
            "pip install -U 'setuptools>=70.1'"
        )
    if shutil.which("tar") is None:
        return "tar is missing"
    return ""


def source_copy(dest: Path) -> Path:
    skip = shutil.ignore_patterns(
        ".git", ".venv", "data", "build", "*.egg-info", "__pycache__", ".*cache"
    )
    shutil.copytree(REPO, dest, ignore=skip)
    return dest


def install(
    root: Path, source: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOUSERULES_ROOT": str(root)}
    env.pop("PYTHONPATH", None)
    site = sysconfig.get_paths()["purelib"]
    cmd = [str(source / "deploy" / "install.sh"), "--no-systemctl", "--source", str(source)]
    cmd += ["--python", sys.executable, "--site-packages", site, *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=source)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


@dataclasses.dataclass
class Installed:
    root: Path
    source: Path
    first: subprocess.CompletedProcess[str]

    @property
    def venv(self) -> Path:
        return self.root / "opt/houserules/venv"

    def python(self, code: str, *args: str) -> str:
        done = subprocess.run(
            [str(self.venv / "bin/python"), "-I", "-c", code, *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.root,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    why = _offline_build_possible()
    if why:
        pytest.skip(why)
    base = tmp_path_factory.mktemp("deploy")
    source = source_copy(base / "source")
    root = base / "root"
    yield Installed(root, source, install(root, source))


def test_install_lays_out_the_program_config_data_and_units(installed: Installed) -> None:
    root = installed.root
    assert "not creating the user houserules" in installed.first.stdout
    assert (installed.venv / "bin/houserules").is_file()
    assert os.readlink(root / "usr/local/bin/houserules") == "/opt/houserules/venv/bin/houserules"
    for unit in UNITS:
        assert (root / "etc/systemd/system" / unit).read_text() == (DEPLOY / unit).read_text()
    data = root / "var/lib/houserules"
    assert data.is_dir() and stat.S_IMODE(data.stat().st_mode) == 0o750
    cfg_file = root / "etc/houserules/config.toml"
    assert stat.S_IMODE(cfg_file.stat().st_mode) == 0o640
    # The lists and facts ship inside the installed package: no copy beside it, no link into it.
    assert not (root / "opt/houserules/blocklists").exists()
    site = next(installed.venv.glob("lib/python3*/site-packages"))
    assert not (site / "blocklists").is_symlink()
    for data in ("bypass.txt", "apps.toml", "safesearch.toml", "paths.toml"):
        assert (site / "agent/blocklists" / data).is_file(), data
    for shipped in (
        "share/config.example.toml",
        "uninstall.sh",
        "docs/raspberry-pi.md",
    ):
        assert (root / "opt/houserules" / shipped).is_file(), shipped


def test_the_written_config_is_the_example_with_pi_paths(installed: Installed) -> None:
    written = config.load(installed.root / "etc/houserules/config.toml")
    example = config.load(REPO / "config.example.toml")
    assert written.dns.listen == (HostPort("0.0.0.0", 53), HostPort("::", 53))
    assert written.dashboard.tls_dir == Path("/var/lib/houserules/tls")
    assert written.database_path == Path("/var/lib/houserules/houserules.db")
    assert written.blocklists.compiled_dir == Path("/var/lib/houserules/index")
    assert written.blocklists.sources == example.blocklists.sources  # shipped and downloaded
    # Everything else is exactly the example.
    assert written.dns.tls_listen == (HostPort("0.0.0.0", 853), HostPort("::", 853))
    assert dataclasses.replace(written.dns, listen=example.dns.listen, tls_listen=()) == example.dns
    assert written.upstream == example.upstream and written.rules == example.rules
    assert dataclasses.replace(written.dashboard, tls_dir=example.dashboard.tls_dir) == (
        example.dashboard
    )
    assert written.store.retention_days == example.store.retention_days


def test_the_installed_program_runs_from_its_own_folder(
    installed: Installed, tmp_path: Path
) -> None:
    where = installed.python("import agent; print(agent.__file__)")
    assert where.startswith(str(installed.venv))
    # Its data files and its migrations shipped with it.
    assert (
        int(
            installed.python(
                "from agent.rules.catalog import load_catalog; print(len(load_catalog().apps))"
            )
        )
        > 10
    )
    db = tmp_path / "h.db"
    code = "import sys; from agent.store.migrate import migrate; print(migrate(sys.argv[1]).after)"
    assert (
        installed.python(code, f"sqlite:///{db}").strip()
        == installed.python(
            "from agent.store.migrate import head_revision; print(head_revision())"
        ).strip()
    )
    done = subprocess.run(
        [str(installed.venv / "bin/houserules"), "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0 and "HouseRules" in done.stdout


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None or SYSTEM_UNITS is None,
    reason="systemd-analyze is not installed (Debian package: systemd)",
)
def test_systemd_analyze_verifies_the_installed_units(installed: Installed) -> None:
    # verify needs systemd's own units (sysinit.target...) inside the root it checks.
    shutil.copytree(
        SYSTEM_UNITS, installed.root / "usr/lib/systemd/system", symlinks=True, dirs_exist_ok=True
    )
    units = [f"/etc/systemd/system/{u}" for u in UNITS]
    done = subprocess.run(
        ["systemd-analyze", "verify", f"--root={installed.root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
    )
    ours = [line for line in done.stderr.splitlines() if "houserules" in line]
    assert done.returncode == 0 and ours == [], done.stderr
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={installed.root}", units[0]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0 and "offline" in done.stderr:
        pytest.skip("this systemd-analyze cannot score units offline")
    exposure = re.search(r"Overall exposure level for houserules.service: ([\d.]+)", done.stdout)
    assert exposure and float(exposure.group(1)) < 3.0, done.stdout[-400:]


def test_running_it_again_upgrades_the_program_and_keeps_config_and_data(
    installed: Installed,
) -> None:
    root, source = installed.root, installed.source
    cfg_file = root / "etc/houserules/config.toml"
    mine = cfg_file.read_text().replace("retention_days = 30", "retention_days = 7") + "# my note\n"
    cfg_file.write_text(mine)
    (root / "var/lib/houserules/houserules.db").write_bytes(b"the family's history")
    marker = "# upgraded by the second run"
    with (source / "agent/__init__.py").open("a") as fh:
        fh.write(f"\n{marker}\n")

    again = install(root, source)
    assert "upgrading /opt/houserules" in again.stdout
    assert "keeping your config /etc/houserules/config.toml" in again.stdout
    assert cfg_file.read_text() == mine
    assert (root / "var/lib/houserules/houserules.db").read_bytes() == b"the family's history"
    init = Path(installed.python("import agent; print(agent.__file__)").strip())
    assert marker in init.read_text()


def test_a_box_sharing_postgresql_keeps_its_driver_through_an_upgrade(
    installed: Installed,
) -> None:
    cfg_file = installed.root / "etc/houserules/config.toml"
    before = cfg_file.read_text()
    assert "installing the PostgreSQL driver" not in installed.first.stdout
    try:
        shared = 'url = "postgresql://houserules@192.0.2.10/houserules"'
        cfg_file.write_text(re.sub(r'(?m)^url = "sqlite:///[^"]*"', shared, before, count=1))
        again = install(installed.root, installed.source)
        assert "installing the PostgreSQL driver too" in again.stdout
        assert cfg_file.read_text().count(shared) == 1  # the config stays the parent's
    finally:
        cfg_file.write_text(before)


def test_a_changed_example_config_stops_the_installer(tmp_path: Path) -> None:
    why = _offline_build_possible()
    if why:
        pytest.skip(why)
    source = source_copy(tmp_path / "source")
    example = source / "config.example.toml"
    example.write_text(
        example.read_text().replace('listen = ["127.0.0.1:5353"]', 'listen = ["127.0.0.1:5300"]')
    )
    done = install(tmp_path / "root", source, check=False)
    assert done.returncode == 1
    assert "config.example.toml has changed shape" in done.stderr
    assert not (tmp_path / "root/etc/houserules/config.toml").exists()


def test_uninstall_keeps_config_and_data_unless_purged(installed: Installed) -> None:
    root = installed.root
    env = {**os.environ, "HOUSERULES_ROOT": str(root)}
    uninstall = str(root / "opt/houserules/uninstall.sh")  # the copy the installer left
    done = subprocess.run(
        [uninstall, "--no-systemctl"], env=env, capture_output=True, text=True, check=True
    )
    assert "set it back now" in done.stdout
    assert not (root / "opt/houserules").exists()
    assert not (root / "usr/local/bin/houserules").is_symlink()
    assert not any((root / "etc/systemd/system" / u).exists() for u in UNITS)
    assert (root / "etc/houserules/config.toml").is_file() and (
        root / "var/lib/houserules"
    ).is_dir()
    subprocess.run(
        [str(DEPLOY / "uninstall.sh"), "--purge"], env=env, capture_output=True, check=True
    )
    assert not (root / "etc/houserules").exists() and not (root / "var/lib/houserules").exists()


def test_dhcp_is_switched_on_only_after_a_check_for_another_server(installed: Installed) -> None:
    """`--dhcp` runs `houserules dhcp check` first (tested for real between network namespaces
    in test_dhcp.py); under --root nothing is probed, so DHCP stays off and says so."""
    again = install(installed.root, installed.source, "--dhcp")
    assert "not looking for other DHCP servers under --root: [dhcp] stays off" in again.stdout
    written = config.load(installed.root / "etc/houserules/config.toml")
    assert written.dhcp.enabled is False
