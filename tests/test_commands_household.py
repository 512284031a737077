"""`houserules child|device|rule|schedule|pause|explain` against a temporary box."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agent import cli
from agent.commands import common, household_explain
from agent.store import household as store
from agent.store.db import make_engine
from tests.storetools import both_stores, new_database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Europe/London"))  # a Monday

CONFIG = """\
[store]
url = "{url}"

[blocklists]
compiled_dir = "data/index"

[[blocklists.sources]]
name = "bypass"
category = "bypass"
path = "bypass.txt"
format = "domains"

[[blocklists.sources]]
name = "gambling"
category = "gambling"
path = "gambling.txt"
format = "domains"

[rules]
timezone = "Europe/London"
"""


class Box:
    def __init__(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        url: str = "sqlite:///data/house.db",
    ) -> None:
        self.dir, self.capsys, self.url = tmp_path, capsys, url
        self.config = tmp_path / "config.toml"
        self.config.write_text(CONFIG.format(url=url))
        (tmp_path / "bypass.txt").write_text("dns.google\n")
        (tmp_path / "gambling.txt").write_text("bet365.com\n")

    def run(self, *args: str) -> tuple[int, str, str]:
        code = cli.main(["--config", str(self.config), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def ok(self, *args: str) -> str:
        code, out, err = self.run(*args)
        assert code == 0, err
        return out

    def fails(self, *args: str) -> str:
        """The one-line message of a command that must fail."""
        code, out, err = self.run(*args)
        assert code == 1, out
        assert err.startswith("houserules: ") and err.count("\n") == 1, err
        return err

    @property
    def engine(self):  # noqa: ANN201 - an Engine on the box's database
        if self.url.startswith("sqlite:"):
            return make_engine(f"sqlite:///{self.dir / 'data' / 'house.db'}")
        return make_engine(self.url)


@pytest.fixture
def box(
    request: pytest.FixtureRequest,
    store_kind: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Box]:
    """A box on SQLite; on PostgreSQL too for a test marked `@both_stores`."""
    monkeypatch.setattr(common, "now", lambda cfg: NOW)
    monkeypatch.setattr(household_explain, "read_neighbours", lambda: {})
    with new_database(request, store_kind, tmp_path) as url:
        if url.startswith("sqlite:"):
            url = "sqlite:///data/house.db"  # beside the config, as a household writes it
        yield Box(tmp_path, capsys, url)


@pytest.fixture
def family(box: Box) -> Box:
    box.ok("child", "add", "Sam", "--born", "2014-06-15")
    box.ok("child", "add", "Alex", "--born", "2018-01-20")
    box.ok("device", "add", "--ip", "192.168.1.20", "--name", "Sam's tablet", "--child", "sam")
    box.ok("device", "add", "--mac", "AA:BB:CC:DD:EE:02", "--adult")
    return box


@both_stores
def test_child_add_and_list(box: Box) -> None:
    assert box.ok("child", "list").startswith("No children yet")
    assert box.ok("child", "add", "Sam", "--born", "2014-06-15") == "Added Sam, 12 years old.\n"
    box.ok("child", "add", "Alex", "--born", "2018-01-20")
    lines = box.ok("child", "list").splitlines()
    assert lines[0].startswith("Sam") and "age 12" in lines[0]
    assert lines[1].startswith("Alex") and "age 8" in lines[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("child", "add", "sam", "--born", "2015-01-01"), "already a child called sam"),
        (("child", "add", "Kim", "--born", "15/01/2015"), "not a date like"),
        (("child", "add", "Kim", "--born", "2027-01-01"), "not a possible date of birth"),
        (("device", "add", "--mac", "nope", "--adult"), "not a MAC address"),
        (("device", "add", "--ip", "192.168.1.999", "--adult"), "not an IP address"),
        (
            ("device", "add", "--ip", "192.168.1.30", "--child", "Nobody"),
            "no child called 'Nobody'",
        ),
        (("device", "merge", "1", "99"), "no device with id 99"),
        (("rule", "block", "Nobody", "--app", "roblox"), "no child called"),
        (("rule", "block", "Sam", "--app", "not-an-app"), "no app 'not-an-app'"),
        (("rule", "block", "Sam", "--category", "knitting"), "no category 'knitting'"),
        (("rule", "allow", "Sam", "--category", "malware"), "cannot be allowed"),
        (("rule", "allow", "Sam", "--domain", "not a domain"), "not a domain"),
        (("pause", "Sam", "--minutes", "0"), "--minutes must be"),
        (("pause", "Nobody", "--minutes", "10"), "no child called"),
        (("explain", "www.tiktok.com", "--client", "my-phone"), "not an IP address"),
    ],
)
def test_mistakes_exit_1_with_one_line(family: Box, args: tuple[str, ...], message: str) -> None:
    assert message in family.fails(*args)


SCHEDULE = ("schedule", "add", "Bedtime", "--child", "Sam", "--days", "mon,sun")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((*SCHEDULE, "--from", "25:00", "--to", "07:00", "--block-all"), "not a time like"),
        ((*SCHEDULE, "--from", "21:00", "--to", "7", "--block-all"), "not a time like"),
        (
            (
                "schedule",
                "add",
                "B",
                "--child",
                "Sam",
                "--days",
                "funday",
                "--from",
                "21:00",
                "--to",
                "07:00",
                "--block-all",
            ),
            "'funday' is not a day",
        ),  # fmt: skip
        ((*SCHEDULE, "--from", "21:00", "--to", "07:00", "--block", "knitting"), "no category"),
        (
            (*SCHEDULE, "--from", "21:00", "--to", "07:00", "--block-all", "--allow", "x y"),
            "not a domain",
        ),  # fmt: skip
        (
            (
                "schedule",
                "add",
                "B",
                "--child",
                "Nobody",
                "--days",
                "mon",
                "--from",
                "21:00",
                "--to",
                "07:00",
                "--block-all",
            ),
            "no child called",
        ),  # fmt: skip
    ],
)
def test_schedule_mistakes(family: Box, args: tuple[str, ...], message: str) -> None:
    assert message in family.fails(*args)


@both_stores
def test_devices_add_list_merge(family: Box) -> None:
    listing = family.ok("device", "list").splitlines()
    assert len(listing) == 2
    assert "Sam's tablet" in listing[0] and "192.168.1.20" in listing[0] and "Sam's" in listing[0]
    assert "aa:bb:cc:dd:ee:02" in listing[1] and "an adult's" in listing[1]
    shared = family.ok("device", "add", "--ip", "192.168.1.30", "--name", "TV", "--shared")
    assert shared == "Device 3 (TV) is shared.\n"
    assert family.ok("device", "merge", "1", "3") == "Merged device 3 into 1 (Sam's tablet).\n"
    assert [d.id for d in store.list_devices(family.engine)] == [1, 2]


def test_device_add_refuses_an_address_that_belongs_to_another_device(family: Box) -> None:
    """The 9-year-old's tablet must not silently get someone else's rules (or lose its own)."""
    before = store.list_devices(family.engine)
    err = family.fails("device", "add", "--ip", "192.168.1.20", "--name", "Laptop", "--adult")
    assert "192.168.1.20 already belongs to Sam's tablet (device 1, Sam's)" in err
    assert "--move" in err
    assert store.list_devices(family.engine) == before  # nothing changed
    # The same owner again is not a move: renaming through add still works.
    family.ok("device", "add", "--ip", "192.168.1.20", "--name", "Sam's iPad", "--child", "Sam")
    moved = family.ok("device", "add", "--ip", "192.168.1.20", "--child", "Alex", "--move")
    assert moved == "Device 1 (Sam's iPad) is Alex's.\n"


def test_an_adult_device_known_by_ip_is_confirmed_then_removed(family: Box) -> None:
    added = family.ok("device", "add", "--ip", "192.168.1.40", "--name", "Mum's laptop", "--adult")
    assert "anything on the network can take an IP address" in added
    seen = {"192.168.1.40": ("AA:BB:CC:DD:EE:40", NOW.timestamp())}
    store.record_seen(family.engine, seen)
    listing = family.ok("device", "list")
    assert "aa:bb:cc:dd:ee:40 was seen at its address: is it this device?" in listing
    laptop = next(d for d in store.list_devices(family.engine) if d.name == "Mum's laptop")
    assert laptop.mac is None and laptop.pending_mac == "aa:bb:cc:dd:ee:40"
    said = family.ok("device", "confirm", str(laptop.id))
    assert said.endswith("(Mum's laptop) is now known by aa:bb:cc:dd:ee:40, wherever it goes.\n")
    assert "confirm" not in family.ok("device", "list")
    assert "no Wi-Fi address is waiting" in family.fails("device", "confirm", str(laptop.id))
    assert family.ok("device", "remove", str(laptop.id)) == (
        f"Removed device {laptop.id} (Mum's laptop).\n"
    )
    assert "Mum's laptop" not in family.ok("device", "list")
    assert "no device with id 99" in family.fails("device", "remove", "99")


def test_a_waiting_mac_can_be_turned_down(family: Box) -> None:
    family.ok("device", "add", "--ip", "192.168.1.40", "--name", "Mum's laptop", "--adult")
    store.record_seen(family.engine, {"192.168.1.40": ("aa:bb:cc:dd:ee:41", NOW.timestamp())})
    said = family.ok("device", "confirm", "3", "--not")
    assert said.startswith("Forgotten. Mum's laptop stays known by its IP address")
    (laptop,) = [d for d in store.list_devices(family.engine) if d.id == 3]
    assert (laptop.mac, laptop.pending_mac) == (None, None)


@both_stores
def test_rules_and_schedules_are_stored(family: Box) -> None:
    assert family.ok("rule", "block", "Sam", "--app", "Roblox") == "Blocked for Sam: app roblox.\n"
    family.ok("rule", "allow", "sam", "--domain", "www.bbc.co.uk")
    family.ok("rule", "block", "Sam", "--category", "gambling")  # a configured list's category
    family.ok("rule", "block", "Sam", "--category", "gaming")  # a catalogue category
    out = family.ok(
        *SCHEDULE, "--from", "21:00", "--to", "07:00", "--block-all", "--allow", "homework.example"
    )
    assert out == (
        "Bedtime for Sam: Monday and Sunday, 21:00 to 07:00 the next day, 10 hours: "
        "the internet off (except homework.example).\n"
    )
    family.ok("schedule", "add", "School", "--child", "Sam", "--days", "weekdays",
              "--from", "09:00", "--to", "15:30", "--block", "gaming,tiktok")  # fmt: skip
    engine = family.engine
    sam = store.get_child_by_name(engine, "Sam")
    assert sam is not None
    rules = {(r.verb, r.kind, r.value) for r in store.list_rules(engine, sam.id)}
    assert rules == {
        ("block", "app", "roblox"),
        ("allow", "domain", "www.bbc.co.uk"),
        ("block", "category", "gambling"),
        ("block", "category", "gaming"),
    }
    bedtime, school = store.list_schedules(engine, sam.id)
    assert bedtime.days == {0, 6} and bedtime.block_all and bedtime.allow == ("homework.example",)
    assert school.days == {0, 1, 2, 3, 4} and school.block == {"gaming", "tiktok"}


@both_stores
def test_pause(family: Box) -> None:
    assert family.ok("pause", "Sam", "--minutes", "90") == "Sam's internet is paused until 13:30.\n"
    (paused,) = store.list_pauses(family.engine)
    assert paused.until == datetime(2026, 11, 23, 13, 30, tzinfo=ZoneInfo("Europe/London"))


def explain(box: Box, name: str, client: str = "192.168.1.20") -> dict[str, str]:
    lines = box.ok("explain", name, "--client", client).splitlines()
    fields = dict(line.strip().split(":", 1) for line in lines[1:])
    return {key: value.strip() for key, value in fields.items()}


@both_stores
def test_explain_a_blocked_app_gives_the_reason(family: Box) -> None:
    shown = explain(family, "https://www.tiktok.com/@someone")
    assert shown["action"] == "block"
    assert shown["reason"] == "Blocked: TikTok is for 13+, Sam is 12"
    assert shown["rule"] == "TikTok: under the app's minimum age (age:tiktok)"
    assert (shown["child"], shown["app"], shown["category"]) == ("Sam", "TikTok (tiktok)", "social")


def test_explain_other_answers(family: Box) -> None:
    assert explain(family, "bet365.com")["rule"] == "gambling: for adults (age-category:gambling)"
    assert explain(family, "dns.google")["rule"].endswith("(protection:bypass)")
    relay = explain(family, "mask.icloud.com")
    assert relay["action"] == "block (NXDOMAIN)" and relay["rule"].endswith("(private-relay)")
    google = explain(family, "WWW.GOOGLE.COM.")
    assert google["action"] == "rewrite" and google["answer"] == "CNAME forcesafesearch.google.com"
    assert explain(family, "www.tiktok.com", client="192.168.1.77")["reason"].endswith("Alex is 8")
    family.ok("rule", "allow", "Sam", "--app", "tiktok")
    assert explain(family, "www.tiktok.com")["rule"].endswith("(allow:app:tiktok)")
    family.ok("pause", "Sam", "--minutes", "10")
    assert explain(family, "www.tiktok.com")["reason"] == "Paused by a parent until 12:10"


def test_explain_an_adult_device(family: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        household_explain, "read_neighbours", lambda: {"192.168.1.50": "aa:bb:cc:dd:ee:02"}
    )
    out = family.ok("explain", "www.tiktok.com", "--client", "192.168.1.50")
    assert "device 2" in out.splitlines()[0]
    assert "action:    allow" in out


# -- putting mistakes right ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("child", "add", "Gran", "--born", "1900-01-01"), "under-18 protections would stop"),
        (("child", "add", "Kim", "--born", "2008-11-23"), "makes them 18"),  # 18 today
        (("child", "born", "Sam", "1990-05-01"), "add --adult-ok"),
        (("child", "born", "Sam", "2030-05-01"), "not a possible date of birth"),
        (("child", "rename", "Sam", "alex"), "already a child called Alex"),
        (("child", "remove", "Sam"), "Add --yes to go ahead"),
        (("rule", "remove", "Sam", "--app", "roblox"), "Sam has no rule about app roblox"),
        (("schedule", "remove", "Lunch", "--child", "Sam"), "no schedule called 'Lunch'"),
        ((*SCHEDULE, "--from", "19:00", "--to", "19:00", "--block-all"), "would be on all day"),
        ((*SCHEDULE, "--block-all"), "or --all-day"),
    ],
)
def test_corrections_refused_with_the_reason(family: Box, args, message) -> None:
    assert message in family.fails(*args)
    assert [c.name for c in store.list_children(family.engine)] == ["Sam", "Alex"]


def test_a_child_renamed_and_redated(family: Box) -> None:
    assert family.ok("child", "rename", "sam", "Samuel") == "Sam is now called Samuel.\n"
    out = family.ok("child", "born", "Samuel", "2013-01-02")
    assert out == "Samuel: born 2013-01-02, 13 years old.\n"
    out = family.ok("child", "born", "Samuel", "2000-01-02", "--adult-ok")
    assert out == "Samuel: born 2000-01-02, 26 years old.\n"
    (samuel,) = [c for c in store.list_children(family.engine) if c.name == "Samuel"]
    assert samuel.born.isoformat() == "2000-01-02"


@both_stores
def test_a_child_removed_with_their_rules_and_devices_unassigned(family: Box) -> None:
    family.ok("rule", "block", "Sam", "--app", "roblox")
    family.ok(*SCHEDULE, "--from", "21:00", "--to", "07:00", "--block-all")
    family.ok("pause", "Sam", "--minutes", "30")
    out = family.ok("child", "remove", "Sam", "--yes")
    assert out == "Removed Sam: 1 rule(s), 1 schedule(s); 1 device(s) now unassigned.\n"
    engine = family.engine
    assert [c.name for c in store.list_children(engine)] == ["Alex"]
    assert store.list_rules(engine) == () and store.list_schedules(engine) == ()
    assert store.list_pauses(engine) == ()
    tablet = next(d for d in store.list_devices(engine) if d.name == "Sam's tablet")
    assert (tablet.owner, tablet.child_id) == ("unassigned", None)


def test_rules_listed_and_removed(family: Box) -> None:
    family.ok("rule", "block", "Sam", "--app", "roblox")
    family.ok("rule", "allow", "Alex", "--domain", "bbc.co.uk")
    listing = family.ok("rule", "list").splitlines()
    assert [line.split() for line in listing] == [
        ["Alex", "allow", "domain", "bbc.co.uk"],
        ["Sam", "block", "app", "roblox"],
    ]
    assert family.ok("rule", "list", "Alex").count("\n") == 1
    out = family.ok("rule", "remove", "Sam", "--app", "Roblox")
    assert out == "Removed Sam's rule: block app roblox.\n"
    assert [r.value for r in store.list_rules(family.engine)] == ["bbc.co.uk"]


@both_stores
def test_schedules_listed_in_words_edited_and_removed(family: Box) -> None:
    family.ok(*SCHEDULE, "--from", "19:00", "--to", "07:00", "--block-all")
    family.ok("schedule", "add", "Sunday", "--child", "Alex", "--days", "sun", "--all-day",
              "--block", "gaming")  # fmt: skip
    listing = family.ok("schedule", "list").splitlines()
    assert listing[0].split(None, 2)[2] == (
        "Monday and Sunday, 19:00 to 07:00 the next day, 12 hours: the internet off"
    )
    assert listing[1].split(None, 2)[2] == "Sunday, all day: gaming off"
    out = family.ok("schedule", "edit", "bedtime", "--child", "Sam", "--days", "daily",
                    "--from", "20:30")  # fmt: skip
    assert out == "Bedtime: every day, 20:30 to 07:00 the next day, 10 hours 30 minutes: " \
        "the internet off.\n"  # fmt: skip
    assert "would be on all day" in family.fails(
        "schedule", "edit", "Bedtime", "--child", "Sam", "--to", "20:30"
    )
    (bedtime,) = store.list_schedules(
        family.engine, store.get_child_by_name(family.engine, "Sam").id
    )
    assert bedtime.days == frozenset(range(7)) and bedtime.start.hour == 20
    assert family.ok("schedule", "remove", "Bedtime", "--child", "Sam").startswith(
        "Removed Bedtime"
    )
    assert "Sam" not in family.ok("schedule", "list", "--child", "Sam")


@both_stores
def test_resume_after_pause(family: Box) -> None:
    family.ok("pause", "Sam", "--minutes", "90")
    assert family.ok("resume", "Sam") == "Sam's internet is back on.\n"
    assert store.list_pauses(family.engine) == ()
    assert family.ok("resume", "Sam") == "Sam was not paused.\n"
