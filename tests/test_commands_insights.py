"""`houserules events|summary|export|forget` through the real CLI, on a box that lived through
the synthetic week (real writer, real job, real SQLite file)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from agent import cli
from agent.commands import insights as cmd
from agent.config import Config, RulesConfig
from agent.insights.job import InsightsJob
from agent.ops import intake
from agent.rules.catalog import load_catalog
from agent.store.db import init_db, make_engine
from agent.store.events import record_events
from agent.store.household_devices import record_seen
from agent.store.querylog import QueryLogWriter, clients_since

import synthweek as sw

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=sw.TZ)  # the Monday after the week
CONFIG = '[store]\nurl = "sqlite:///box.db"\n[rules]\ntimezone = "Europe/London"\n'


@pytest.fixture(scope="module")
def lived_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database after the week, made once and copied for each test."""
    path = tmp_path_factory.mktemp("week") / "box.db"
    engine = make_engine(f"sqlite:///{path}")
    init_db(engine)
    household = sw.build_household(engine)
    catalog = load_catalog()
    job = InsightsJob(engine, catalog, Config(rules=RulesConfig(timezone="Europe/London")))
    writer = QueryLogWriter(path, flush_interval=0.01)
    writer.start()
    after = 0
    for moment, chunk in sw.chunks(sw.generate(household, catalog), sw.run_times()):
        for row in chunk:
            writer.submit(row)
        assert writer.flush()
        job.run(household, sw.presence(moment), moment)
        seen, after = clients_since(path, after)  # the jobs' device intake, as it runs
        record_events(engine, intake.events(record_seen(engine, seen), moment))
    assert writer.stop()
    engine.dispose()
    return path


@pytest.fixture
def run(tmp_path: Path, lived_in: Path, capsys, monkeypatch):
    """Run the CLI against a copy of the lived-in box; returns (exit code, stdout, stderr)."""
    (tmp_path / "config.toml").write_text(CONFIG)
    shutil.copy(lived_in, tmp_path / "box.db")
    if "insights" not in cli.COMMAND_MODULES:  # until the lead lists it
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "insights"))
    monkeypatch.setattr(cmd, "now", lambda cfg: NOW)

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(tmp_path / "config.toml"), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def test_events_json_shape(run) -> None:
    code, out, _ = run("events", "--since", "2026-11-16", "--json")
    assert code == 0
    events = json.loads(out)
    assert len(events) == 20
    for e in events:
        assert {"time", "kind", "severity", "child", "device", "app", "details"} <= set(e)
        assert e["time"].endswith("+00:00") and e["text"]
    kinds = {e["kind"] for e in events}
    assert kinds == {
        "new_device", "first_app", "first_site", "video_chat", "random_video_chat",
        "age_blocked", "bypass_suspected", "late_night",
    }  # fmt: skip
    ometv = next(e for e in events if e["kind"] == "random_video_chat")
    assert ometv["time"] == "2026-11-20T23:10:05+00:00" and ometv["severity"] == "alert"
    assert (ometv["child"], ometv["app"], ometv["device_name"]) == ("Sam", "ometv", "Sam's phone")
    assert ometv["details"]["blocked"] is True


def test_events_default_to_the_last_week_and_filter_by_child(run) -> None:
    code, out, _ = run("events", "--json")
    assert code == 0
    # From Tuesday 17 (seven days up to Monday 23): Monday's events are left out.
    assert [e["time"][:10] for e in json.loads(out)][0] == "2026-11-17"
    code, out, _ = run("events", "--child", "sam", "--since", "2026-11-16", "--json")
    sam = json.loads(out)
    assert code == 0 and {e["child"] for e in sam} == {"Sam"} and len(sam) == 10


def test_events_text_is_calm_and_concrete(run) -> None:
    code, out, _ = run("events", "--child", "Sam", "--since", "2026-11-20")
    assert code == 0
    assert "Events for Sam since Fri 20 Nov 2026" in out
    assert "Sam's phone looked up OmeTV at 23:10" in out and "It was blocked." in out
    assert "Worth a calm chat with Sam about it" in out
    assert "Sam's phone was in use at 23:10, during Bedtime (21:00-07:00): OmeTV (blocked)." in out
    code, out, _ = run("events", "--child", "Sam", "--since", "2026-12-01")
    assert code == 0 and "Nothing to report for Sam" in out


def test_summary_day_json(run) -> None:
    code, out, _ = run("summary", "--child", "Sam", "--day", "2026-11-16", "--json")
    assert code == 0
    day = json.loads(out)
    assert (day["day"], day["minutes"], day["blocked"]) == ("2026-11-16", 85, 73)
    assert [(a["name"], a["app_name"], a["minutes"]) for a in day["apps"]] == [
        ("roblox", "Roblox", 60),
        ("tiktok", "TikTok", 0),
    ]
    assert day["first_activity"] == "2026-11-16T16:00:00+00:00"
    assert day["blocked_by_reason"][1] == {
        "rule": "age:tiktok",
        "count": 12,
        "label": "TikTok: under the app's minimum age",
    }
    assert len(day["hours"]) == 24 and day["hours"][16] == 60


def test_summary_week_json_and_text(run) -> None:
    code, out, _ = run("summary", "--child", "Alex", "--week", "2026-W47", "--json")
    assert code == 0
    week = json.loads(out)
    assert (week["week"], week["minutes"], week["previous_week_minutes"]) == ("2026-W47", 530, 0)
    assert [d["minutes"] for d in week["days"]] == [60, 140, 60, 70, 50, 90, 60]
    code, out, _ = run("summary", "--child", "Alex", "--week", "2026-W47")
    assert code == 0
    assert "Alex, week 2026-W47" in out and "8 h 50 min (an estimate)\n" in out  # no week before
    assert "YouTube 4 h 00 min" in out and "Discord 2 h 50 min" in out
    assert "ways around the house rules (6)" in out


def test_summary_defaults_to_today(run) -> None:
    code, out, _ = run("summary", "--child", "Sam")
    assert code == 0 and "Sam, Monday 23 November 2026" in out and "0 min" in out


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (("summary", "--child", "Nobody"), "no child called 'Nobody'"),
        (("summary", "--child", "Sam", "--day", "16/11/2026"), "--day must look like"),
        (("summary", "--child", "Sam", "--week", "2026-47"), "--week must look like"),
        (("events", "--since", "yesterday"), "--since must look like"),
    ],
)
def test_mistakes_are_one_line(run, argv: tuple[str, ...], words: str) -> None:
    code, out, err = run(*argv)
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


def test_export_writes_the_childs_data(run, tmp_path: Path) -> None:
    target = tmp_path / "sam.json"
    code, out, _ = run("export", "--child", "Sam", "--out", str(target))
    assert code == 0 and f"Wrote Sam's data to {target}" in out
    data = json.loads(target.read_text())
    assert data["child"] == "Sam" and data["timezone"] == "Europe/London"
    assert len(data["events"]) == 10 and {e["child"] for e in data["events"]} == {"Sam"}
    assert data["query_log"] and all("child" not in r for r in data["query_log"])
    assert {r["day"] for r in data["rollups"]["child_daily"]} >= {"2026-11-16", "2026-11-22"}
    assert {f["name"] for f in data["first_uses"]} >= {"roblox", "zoom", "bbc.co.uk"}
    code, out, _ = run("export", "--child", "Alex")
    assert code == 0 and json.loads(out)["child"] == "Alex"


def test_forget_deletes_the_childs_history_only(run) -> None:
    code, out, _ = run("forget", "--child", "sam")
    assert code == 0
    assert "Deleted Sam's history:" in out and "Sam's house rules are unchanged." in out
    code, out, _ = run("events", "--child", "Sam", "--since", "2026-11-16", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run("summary", "--child", "Sam", "--week", "2026-W47", "--json")
    assert json.loads(out)["minutes"] == 0
    code, out, _ = run("export", "--child", "Sam")
    data = json.loads(out)
    assert data["query_log"] == [] and data["events"] == [] and data["first_uses"] == []
    code, out, _ = run("summary", "--child", "Alex", "--week", "2026-W47", "--json")
    assert json.loads(out)["minutes"] == 530


@pytest.mark.parametrize(
    ("text", "monday"),
    [("2026-W47", "2026-11-16"), ("2026-W01", "2025-12-29"), ("2020-W53", "2020-12-28")],
)
def test_parse_week(text: str, monday: str) -> None:
    assert cmd.parse_week(text).isoformat() == monday


@pytest.mark.parametrize("text", ["2026-47", "W47", "2026-W00", "2026-W54", "next week"])
def test_parse_week_mistakes(text: str) -> None:
    with pytest.raises(cli.CliError, match="--week must look like"):
        cmd.parse_week(text)
