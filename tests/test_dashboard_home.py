"""Home: each child today, rules in force now, unread alerts, pause and resume, requests."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from agent.events import Event, EventKind, Severity
from agent.household import requests
from agent.rules.decision import RuleKind, RuleRef
from agent.store import household as store
from agent.store import overlays
from agent.store.events import record_events


@pytest.fixture
def sam(engine):
    child = store.add_child(engine, "Sam", date(2015, 3, 1))
    store.add_device(
        engine, ip="192.168.1.20", name="Sam's tablet", owner="child", child_id=child.id
    )
    return child


def test_an_empty_household_is_asked_for_its_children(auth):
    auth.login()
    page = auth.client.get("/").get_data(as_text=True)
    assert "Add your children" in page and 'href="/children/new"' in page


def test_each_child_at_a_glance(auth, engine, sam, clock, add_activity):
    auth.login()
    alex = store.add_child(engine, "Alex", date(2018, 6, 1))
    add_activity("Sam", clock().date(), {"roblox": (16, 45), "youtube-kids": (17, 20)})
    store.add_schedule(engine, alex.id, "Bedtime", range(7), time(17, 30), time(7), block_all=True)
    record_events(engine, [Event(clock(), EventKind.RANDOM_VIDEO_CHAT, Severity.ALERT, "Sam")])
    store.add_device(engine, ip="192.168.1.50")  # nobody's yet
    page = auth.client.get("/").get_data(as_text=True)
    assert "Sam" in page and "Alex" in page
    assert "1 h 5 min" in page  # active today
    assert "Roblox 45 min" in page and "YouTube Kids 20 min" in page  # top apps by name
    assert "Bedtime: internet off until 07:00" in page  # Alex's bedtime is on now
    assert 'href="/alerts?child=Sam">1</a>' in page  # unread alerts
    assert "1 device nobody has claimed" in page


def test_pause_and_resume_reach_the_rules_engine(auth, engine, sam, clock, verdict):
    auth.login()
    assert not verdict("192.168.1.20", "example.com", clock()).blocked
    response = auth.post(f"/children/{sam.id}/pause", {"for": "30"})
    assert response.status_code == 302
    decision = verdict("192.168.1.20", "example.com", clock())
    assert (
        decision.blocked and decision.rule == RuleRef(RuleKind.PAUSE) and "18:30" in decision.reason
    )
    page = auth.client.get("/").get_data(as_text=True)
    assert "Paused until 18:30" in page and "Resume now" in page
    auth.post(f"/children/{sam.id}/resume")
    assert not verdict("192.168.1.20", "example.com", clock()).blocked


def test_pause_until_the_morning(auth, engine, sam, clock):
    auth.login()
    auth.post(f"/children/{sam.id}/pause", {"for": "morning"})
    (paused,) = store.list_pauses(engine)
    assert paused.until == datetime(2026, 11, 19, 7, 0, tzinfo=clock().tzinfo)


@pytest.mark.parametrize("choice", ["", "forever", "-5"])
def test_a_pause_must_be_one_of_the_buttons(auth, sam, choice):
    auth.login()
    assert auth.post(f"/children/{sam.id}/pause", {"for": choice}).status_code == 400


def test_a_pause_for_a_child_that_is_not_there(auth):
    auth.login()
    assert auth.post("/children/99/pause", {"for": "30"}).status_code == 404


def test_approving_more_time_holds_bedtime_off_until_it_ends(auth, engine, sam, clock, verdict):
    auth.login()
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(17, 30), time(7), block_all=True)
    assert verdict("192.168.1.20", "example.com", clock()).blocked
    asked = requests.add_request(
        engine, sam.id, "more_time", clock(), minutes=30, message="homework"
    )
    page = auth.client.get("/").get_data(as_text=True)
    assert "Your children asked" in page and "asked for 30 more minutes" in page
    assert "homework" in page
    response = auth.post(f"/requests/{asked.id}", {"decision": "approve", "minutes": "15"})
    assert response.status_code == 302
    assert not verdict("192.168.1.20", "example.com", clock()).blocked
    page = auth.client.get("/").get_data(as_text=True)
    assert "More time: Bedtime is off until 18:15" in page and "15 min left" in page
    assert [s.name for s in store.list_schedules(engine, sam.id)] == ["Bedtime"]
    clock.advance(minutes=15)  # nothing runs, nothing is put back: the overlay just ends
    assert verdict("192.168.1.20", "example.com", clock()).blocked


def test_looking_at_pages_writes_nothing(auth, engine, sam):
    """No page view changes the database as a side effect (background work is the jobs')."""
    auth.login()
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(17, 30), time(7), block_all=True)

    def everything() -> list[str]:
        with engine.connect() as conn:
            return list(conn.connection.driver_connection.iterdump())

    before = everything()
    for page in ("/", f"/child/{sam.id}", "/devices", "/alerts", "/settings", "/kids"):
        assert auth.client.get(page).status_code == 200, page
    assert everything() == before


def test_declining_a_request(auth, engine, sam, clock, verdict):
    auth.login()
    asked = requests.add_request(engine, sam.id, "unblock", clock(), app="tiktok")
    assert "asked to unblock <strong>TikTok</strong>" in auth.client.get("/").get_data(as_text=True)
    auth.post(f"/requests/{asked.id}", {"decision": "decline"})
    assert requests.get_request(engine, asked.id).status == "declined"
    assert verdict("192.168.1.20", "tiktok.com", clock()).blocked
    again = auth.post(f"/requests/{asked.id}", {"decision": "approve"})
    assert again.status_code == 302  # told it was answered already; nothing changes
    assert requests.get_request(engine, asked.id).status == "declined"


def test_approving_an_unblock_makes_an_allow_rule(auth, engine, sam, clock, verdict):
    auth.login()
    asked = requests.add_request(engine, sam.id, "unblock", clock(), app="tiktok")
    assert verdict("192.168.1.20", "tiktok.com", clock()).blocked
    auth.post(f"/requests/{asked.id}", {"decision": "approve"})
    decision = verdict("192.168.1.20", "tiktok.com", clock())
    assert not decision.blocked and decision.rule == RuleRef(RuleKind.ALLOW_APP, "tiktok")


def test_end_more_time_early_from_the_childs_page(auth, engine, sam, clock, verdict):
    auth.login()
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(17, 30), time(7), block_all=True)
    asked = requests.add_request(engine, sam.id, "more_time", clock(), minutes=60)
    requests.decide_request(engine, asked.id, True, 60, clock())
    assert not verdict("192.168.1.20", "example.com", clock() + timedelta(minutes=1)).blocked
    (held,) = overlays.list_overlays(engine, sam.id)
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "More time: Bedtime is off until 19:00" in page and "1 h left" in page
    auth.post(f"/child/{sam.id}/overlays/{held.id}/end", {})
    assert verdict("192.168.1.20", "example.com", clock()).blocked
    assert "For a while" not in auth.client.get(f"/child/{sam.id}").get_data(as_text=True)


def test_damaged_lists_show_a_banner_on_home_and_settings(auth, tmp_path):
    from agent.config import Config
    from agent.lists.index import IndexBuilder

    cfg = Config(base_dir=tmp_path)
    folder = cfg.resolve(cfg.blocklists.compiled_dir)
    b = IndexBuilder()
    b.add("casino.example", "gambling", "gambling")
    b.build("fp").save(folder)
    auth.login()
    for url in ("/", "/settings"):
        assert "block lists on the box were damaged" not in auth.client.get(url).get_data(True)
    table = folder / "claims.bin"
    table.write_bytes(bytes(x ^ 1 for x in table.read_bytes()))
    for url in ("/", "/settings"):
        page = auth.client.get(url).get_data(as_text=True)
        assert "block lists on the box were damaged" in page, url
        assert "rebuilding them by itself" in page
