"""`houserules prompts list|suggest` and `houserules help-guide`, run through the real CLI."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from agent import cli
from agent import config as config_mod
from agent.cli import CliError
from agent.commands import prompts as cmd
from agent.events import Event, EventKind, Severity
from agent.talk.guides import topics
from agent.talk.prompts import load_library


@pytest.fixture
def run(tmp_path: Path, capsys):
    """Run the CLI with an empty config file; returns (exit code, stdout, stderr)."""
    config = tmp_path / "config.toml"
    config.write_text("")

    def _run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(config), *argv])
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def household(monkeypatch):
    """Stand-ins for the store hooks: Sam is 11 and had an OmeTV alert and a Discord first use."""
    calls: list[tuple[str, date, date]] = []
    events = [
        Event(
            datetime(2026, 11, 16, 16, 5),
            EventKind.FIRST_APP,
            Severity.NOTICE,
            "Sam",
            app="discord",
        ),
        Event(
            datetime(2026, 11, 21, 23, 10),
            EventKind.RANDOM_VIDEO_CHAT,
            Severity.ALERT,
            "Sam",
            app="ometv",
        ),
    ]

    def load_child(cfg, name):
        if name != "Sam":
            raise CliError(f"no child called {name!r}")
        return 11

    def load_events(cfg, child, start, end):
        calls.append((child, start, end))
        return events

    monkeypatch.setattr(cmd, "load_child", load_child)
    monkeypatch.setattr(cmd, "load_events", load_events)
    monkeypatch.setattr(cmd, "today", lambda cfg: date(2026, 11, 25))
    return calls


def test_today_is_the_box_s_date_in_its_own_time_zone(tmp_path: Path) -> None:
    """Kiritimati (UTC+14) and Pago Pago (UTC-11) are 25 hours apart: never the same date."""
    ahead, behind = (
        config_mod.parse({"rules": {"timezone": zone}}, "test", tmp_path)
        for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago")
    )
    assert 1 <= (cmd.today(ahead) - cmd.today(behind)).days <= 2


def test_prompts_list_json(run) -> None:
    code, out, _ = run("prompts", "list", "--json")
    assert code == 0
    listed = json.loads(out)
    assert [p["id"] for p in listed] == [p.id for p in load_library().prompts]
    for item in listed:
        assert item["triggers"] and item["sources"] and len(item["ages"]) == 2


def test_prompts_list_text(run) -> None:
    code, out, _ = run("prompts", "list")
    assert code == 0
    assert "first-app-discord-servers" in out and "first_app:app=discord" in out


def test_help_guide_without_topic_lists_topics(run) -> None:
    code, out, _ = run("help-guide")
    assert code == 0
    for topic in topics():
        assert topic in out


def test_help_guide_sextortion(run) -> None:
    code, out, _ = run("help-guide", "sextortion")
    assert code == 0
    assert "0800 1111" in out and "ceop.police.uk" in out and "999" in out


def test_help_guide_unknown_topic_is_one_line_error(run) -> None:
    code, out, err = run("help-guide", "nope")
    assert code == 1 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "'nope'" in err and "sextortion" in err


def test_suggest_json_for_a_given_week(run, household) -> None:
    code, out, _ = run("prompts", "suggest", "--child", "Sam", "--week", "2026-W47", "--json")
    assert code == 0
    # ISO week 47 of 2026 runs from Monday 16 to Sunday 22 November.
    assert household == [("Sam", date(2026, 11, 16), date(2026, 11, 22))]
    result = json.loads(out)
    assert result["week"] == "2026-W47" and result["age"] == 11
    first = result["suggestions"][0]
    assert first["event"]["kind"] == "random_video_chat" and first["event"]["severity"] == "alert"
    assert first["opener"] and first["sources"]


def test_suggest_defaults_to_this_week(run, household) -> None:
    code, out, _ = run("prompts", "suggest", "--child", "Sam")
    assert code == 0
    assert household == [("Sam", date(2026, 11, 23), date(2026, 11, 29))]
    assert "2026-W48" in out


def test_suggest_text_names_the_letters(run, household) -> None:
    code, out, _ = run("prompts", "suggest", "--child", "Sam", "--week", "2026-W47")
    assert code == 0
    assert "Alert: Random video chat (ometv)" in out
    assert (
        "Say:" in out
        and "Based on:" in out
        and "Rackham school, Cambridgeshire, June 2020" in out
        and ".txt" not in out
    )


@pytest.mark.parametrize("week", ["2026-47", "W47", "2026-W00", "2026-W54", "next week"])
def test_suggest_bad_week_is_a_user_error(run, household, week: str) -> None:
    code, _, err = run("prompts", "suggest", "--child", "Sam", "--week", week)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "week" in err
    assert household == []


def test_suggest_unknown_child(run, household) -> None:
    code, _, err = run("prompts", "suggest", "--child", "Alex", "--week", "2026-W47")
    assert code == 1 and "'Alex'" in err


def test_suggest_says_when_the_store_is_not_there(run, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "agent.store", None)  # as if the store did not exist
    code, _, err = run("prompts", "suggest", "--child", "Sam", "--week", "2026-W47")
    assert code == 1 and "not available yet" in err


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-W47", date(2026, 11, 16), date(2026, 11, 22)),
        ("2026-W01", date(2025, 12, 29), date(2026, 1, 4)),  # week 1 starts in the old year
        ("2020-W53", date(2020, 12, 28), date(2021, 1, 3)),  # a year with 53 weeks
    ],
)
def test_parse_week(text: str, start: date, end: date) -> None:
    assert cmd.parse_week(text) == (start, end)


# --- the hooks wired to the real store and catalogue ------------------------------------------


@pytest.fixture
def stored(tmp_path: Path, monkeypatch):
    """Sam (11) in a real database beside the empty config, with a week of real events."""
    from agent.store import household as household_store
    from agent.store.db import init_db, make_engine
    from agent.store.events import KeyedEvent, record_events

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'houserules.db'}")
    init_db(engine)
    household_store.add_child(engine, "Sam", date(2015, 3, 10))
    ometv = Event(
        datetime(2026, 11, 20, 23, 10, 5, tzinfo=UTC),
        EventKind.RANDOM_VIDEO_CHAT,
        Severity.ALERT,
        "Sam",
        app="ometv",
        details={"blocked": True},
    )
    late = Event(datetime(2026, 11, 30, 12, tzinfo=UTC), EventKind.FIRST_APP, Severity.INFO, "Sam")
    record_events(engine, [KeyedEvent(ometv, "a"), KeyedEvent(late, "b")])
    monkeypatch.setattr(cmd, "today", lambda cfg: date(2026, 11, 25))
    engine.dispose()


def test_suggest_reads_the_real_store(run, stored) -> None:
    code, out, _ = run("prompts", "suggest", "--child", "sam", "--week", "2026-W47", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["age"] == 11  # from the date of birth, on the (injected) day
    first = result["suggestions"][0]["event"]
    assert (first["kind"], first["app"], first["severity"]) == (
        "random_video_chat",
        "ometv",
        "alert",
    )


def test_suggest_with_the_real_store_and_an_unknown_child(run, stored) -> None:
    code, _, err = run("prompts", "suggest", "--child", "Alex", "--week", "2026-W47")
    assert code == 1 and "no child called 'Alex'" in err


def test_load_events_keeps_to_the_week_in_local_time(tmp_path: Path, stored) -> None:
    from agent import config as config_mod

    (tmp_path / "config.toml").write_text("")
    cfg = config_mod.load(tmp_path / "config.toml")
    found = cmd.load_events(cfg, "SAM", date(2026, 11, 16), date(2026, 11, 22))
    assert [e.kind for e in found] == ["random_video_chat"]
    assert str(found[0].time.tzinfo) == cfg.rules.timezone


def test_app_lookup_comes_from_the_catalogue(tmp_path: Path) -> None:
    from agent import config as config_mod

    lookup = cmd.load_app_lookup(config_mod.load(None))
    assert lookup is not None
    category, flags = lookup("discord") or ("", ())
    assert category == "game-chat" and "video_chat" in set(flags)
    assert lookup("no-such-app") is None
