"""Budgets, extra time and rewards from the command line, on a real store."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_commands_household import NOW, Box

from agent.commands import common
from agent.store import budgets, overlays


@pytest.fixture
def box(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Box:
    monkeypatch.setattr(common, "now", lambda cfg: NOW)
    monkeypatch.chdir(tmp_path)
    found = Box(tmp_path, capsys)
    found.ok("child", "add", "Sam", "--born", "2014-06-01")
    return found


def test_set_list_more_time_allow_and_remove(box: Box) -> None:
    out = box.ok("budget", "set", "Sam", "--category", "gaming", "--school", "60", "--weekend",
                 "120", "--day", "wed=30")  # fmt: skip
    assert "Gaming: 0 of 60 minutes used today" in out and "wed 30" in out and "sat 120" in out
    assert "1 hour left" in box.ok("budget", "list", "Sam")
    assert "15 more minutes today" in box.ok("more-time", "Sam", "--minutes", "15")
    assert "1 h 15 min left" in box.ok("budget", "list")
    assert "no limit today" in box.ok("more-time", "Sam", "--no-limit-today")
    assert "no limit today" in box.ok("budget", "list")
    out = box.ok("allow", "Sam", "--app", "youtube", "--until", "18:00")
    assert "youtube is allowed until Mon 18:00" in out
    eng = budgets.list_budgets  # the rows are real
    engine = _engine(box)
    assert [o.kind for o in overlays.list_overlays(engine)] == [
        "unblock",
        "extra_time",
        "extra_time",
    ]
    assert eng(engine)[0].days == (60, 60, 30, 60, 60, 120, 120)
    code, _out, err = box.run("budget", "set", "Sam", "--app", "roblox", "--school", "2000",
                              "--weekend", "60")  # fmt: skip
    assert code != 0 and "0 to 1440 minutes" in err
    box.ok("schedule", "add", "Bedtime", "--child", "Sam", "--days", "mon,sun", "--from", "21:00",
           "--to", "07:00", "--block-all")  # fmt: skip
    assert "Bedtime is off until Mon 22:00" in box.ok(
        "allow", "Sam", "--schedule", "bedtime", "--until", "22:00"
    )
    box.ok("budget", "remove", "1")
    assert "No daily budgets." in box.ok("budget", "list")


def _engine(box: Box):
    from agent.store.db import make_engine

    return make_engine(f"sqlite:///{box.dir / 'data' / 'house.db'}")


def test_a_reward_for_a_whole_category_until_a_time(box: Box) -> None:
    out = box.ok("allow", "Sam", "--category", "gaming", "--until", "18:00")
    assert "gaming is allowed until Mon 18:00" in out
    (treat,) = overlays.list_overlays(_engine(box))
    assert (treat.kind, treat.target_kind, treat.target) == ("unblock", "category", "gaming")
    err = box.fails("allow", "Sam", "--category", "wizardry", "--until", "18:00")
    assert "'wizardry' is not a kind of app HouseRules knows" in err
