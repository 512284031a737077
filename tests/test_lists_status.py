"""Adult and gambling sites are blocked for children out of the box, and nothing a parent
reads says a category is blocked when no list for it has arrived (`agent.lists.status`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from dnslib import QTYPE, RCODE

from agent import cli
from agent import config as config_mod
from agent.commands import household_explain
from agent.lists.compile import compile_index
from agent.lists.status import category_status
from agent.ops import doctor
from agent.rules.catalog import load_catalog
from agent.store.household import add_child
from agent.store.household_devices import add_device

from agenttools import RunningAgent
from dnstools import Upstream, ZoneResolver, ask

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ZONE = """
pornhub.com.   300 IN A 203.0.113.1
www.pornhub.com. 300 IN A 203.0.113.1
bet365.com.    300 IN A 203.0.113.2
www.bbc.co.uk. 300 IN A 203.0.113.3
"""


def write(tmp: Path, text: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp / "data" / "hr.db"}"\n'
        f'[blocklists]\ncompiled_dir = "{tmp / "index"}"\n' + text
    )
    return path


def test_a_fresh_install_blocks_adult_and_gambling_sites_for_a_child(tmp_path: Path) -> None:
    """No list in the config at all (the built-in defaults) and no internet: an 11-year-old's
    pornhub.com and bet365.com are blocked over real DNS; an adult's are answered."""
    upstream = Upstream(ZoneResolver(ZONE)).start()
    try:
        path = write(
            tmp_path,
            f'[dns]\nlisten = ["127.0.0.1:0"]\n[upstream]\nservers = ["{upstream.address}"]\n'
            "[rules]\nhousehold_poll_seconds = 0.2\n",
        )
        assert cli.main(["--config", str(path), "init"]) == 0
        cfg = config_mod.load(path)
        with RunningAgent(cfg) as running:
            sam = add_child(running.engine, "Sam", date(2015, 3, 1))
            add_device(running.engine, ip="127.0.0.1", owner="child", child_id=sam.id)
            add_device(running.engine, ip="127.0.0.2", owner="adult")
            running.agent.refresh_household()
            for name in ("pornhub.com", "www.pornhub.com", "bet365.com"):
                child = ask(running.port, name, source="127.0.0.1")
                assert child.header.rcode == RCODE.NXDOMAIN or all(
                    str(rr.rdata) in ("0.0.0.0", "::") for rr in child.rr
                ), (name, child)
                adult = ask(running.port, name, source="127.0.0.2")
                assert [str(rr.rdata) for rr in adult.rr if rr.rtype == QTYPE.A], name
            assert ask(running.port, "www.bbc.co.uk", source="127.0.0.1").rr  # not everything
    finally:
        upstream.stop()


@pytest.fixture
def offline_box(tmp_path: Path) -> Path:
    """An adult list that cannot download (nothing listens on its port), gambling from a local
    file, and no list at all for malware."""
    (tmp_path / "gambling.txt").write_text("bet365.com\nwilliamhill.com\n")
    path = write(
        tmp_path,
        '[[blocklists.sources]]\nname = "adult"\ncategory = "adult"\n'
        'url = "http://127.0.0.1:9/porn-only/hosts"\n'
        '[[blocklists.sources]]\nname = "gambling"\ncategory = "gambling"\n'
        f'path = "{tmp_path / "gambling.txt"}"\n',
    )
    assert cli.main(["--config", str(path), "init"]) == 0
    return path


def test_status_counts_what_is_loaded_and_names_what_is_not(offline_box: Path) -> None:
    cfg, cat = config_mod.load(offline_box), load_catalog()
    adult = category_status(cfg, cat, "adult")
    assert (adult.names, adult.missing, adult.blocked) == (0, ("adult",), False)
    assert adult.words(NOW) == "adult: not blocked yet, the list has not downloaded"
    gambling = category_status(cfg, cat, "gambling")
    assert (gambling.names, gambling.lists) == (2, ("gambling",))
    assert gambling.words(NOW) == "gambling (2 sites; the lists that come with HouseRules)"
    dating = category_status(cfg, cat, "dating")
    assert dating.blocked and dating.names == 0 and dating.apps >= 3


def test_explain_says_when_an_allowed_answer_may_only_mean_the_list_is_missing(
    offline_box: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(household_explain, "read_neighbours", lambda: {})
    config = str(offline_box)
    assert cli.main(["--config", config, "child", "add", "Sam", "--born", "2015-03-01"]) == 0
    args = ["device", "add", "--ip", "192.168.1.20", "--child", "Sam"]
    assert cli.main(["--config", config, *args]) == 0
    capsys.readouterr()
    assert cli.main(["--config", config, "explain", "pornhub.com", "--client", "192.168.1.20"]) == 0
    out = capsys.readouterr().out
    assert "action:    allow" in out
    assert "note:      adult: not blocked yet, the list has not downloaded" in out
    assert "note:      malware: not blocked yet, the list has not downloaded" in out
    assert "gambling" not in out  # its list is loaded: nothing to warn about


def test_doctor_fails_the_lists_check_with_the_fix(offline_box: Path) -> None:
    found = doctor.check_lists(config_mod.load(offline_box))
    assert found.ok is False
    assert "adult: not blocked yet, the list has not downloaded" in found.problem
    assert "reaches the internet" in found.fix


def test_doctor_passes_the_lists_check_when_every_category_has_names(tmp_path: Path) -> None:
    (tmp_path / "malware.txt").write_text("malware.example\n")
    path = write(
        tmp_path,
        '[[blocklists.sources]]\nname = "malware"\ncategory = "malware"\n'
        f'path = "{tmp_path / "malware.txt"}"\n'
        '[[blocklists.sources]]\nname = "adult-common"\ncategory = "adult"\n'
        'shipped = "adult-common.txt"\n'
        '[[blocklists.sources]]\nname = "gambling-common"\ncategory = "gambling"\n'
        'shipped = "gambling-common.txt"\n',
    )
    cfg = config_mod.load(path)
    cat = load_catalog()
    compile_index(cfg, cat.index_entries(), cat.fingerprint)
    found = doctor.check_lists(cfg)
    assert found.ok is True, found
    assert "adult (91 sites" in found.detail and "malware (1 sites" in found.detail
