"""The children's page: no login, shown to the device that asks, the rules in friendly words,
and asking for more time or for something to be unblocked."""

from __future__ import annotations

from datetime import date, time

import pytest

from agent.events import EventKind
from agent.household import requests
from agent.store import household as store
from agent.store.events import list_events

SAMS = {"REMOTE_ADDR": "192.168.1.20"}


@pytest.fixture
def sam(engine):
    child = store.add_child(engine, "Sam", date(2015, 3, 1))
    store.add_device(engine, ip="192.168.1.20", owner="child", child_id=child.id)
    store.add_schedule(engine, child.id, "Bedtime", range(7), time(20, 30), time(7), block_all=True)
    store.add_schedule(engine, child.id, "School", range(5), time(9), time(15), block=["gaming"])
    return child


def kid(client, path="/kids", **kwargs):
    return client.get(path, environ_base=SAMS, **kwargs)


def ask(auth, form):
    token = auth.token_in(kid(auth.client).get_data(as_text=True))
    return auth.client.post("/kids/ask", data=form | {"csrf_token": token}, environ_base=SAMS)


def test_a_childs_own_rules_in_friendly_words_without_logging_in(client, auth, sam):
    auth.create()  # a parent exists, but nobody is logged in here
    page = kid(client).get_data(as_text=True)
    assert "Hi Sam!" in page
    assert "The internet is on." in page
    assert "Bedtime starts at 20:30." in page
    assert "School</strong>: weekdays, 09:00 to 15:00, 6 hours, gaming off" in page
    assert "TikTok: it&#39;s for 13 and over" in page
    assert "Childline" in page and "0800 1111" in page
    assert "Log out" not in page  # no parent pages from here


def test_during_bedtime(client, sam, clock):
    clock.advance(hours=3)  # 21:00
    page = kid(client).get_data(as_text=True)
    assert "It's Bedtime: the internet is off until 07:00." in page
    assert "Bedtime starts" not in page


def test_an_unknown_device_is_told_to_ask_a_grown_up(client, sam, engine):
    page = client.get("/kids", environ_base={"REMOTE_ADDR": "192.168.1.99"}).get_data(as_text=True)
    assert "isn't set up for anyone yet" in page and "Sam" not in page
    store.add_device(engine, ip="192.168.1.30", owner="adult")
    adult = client.get("/kids", environ_base={"REMOTE_ADDR": "192.168.1.30"})
    assert "grown-up's device" in adult.get_data(as_text=True)


def test_asking_for_more_time_makes_a_request_and_an_alert(auth, engine, sam):
    response = ask(auth, {"kind": "more_time", "minutes": "30", "message": "finishing a level"})
    assert response.status_code == 302 and response.location == "/kids"
    (asked,) = requests.list_requests(engine, "Sam")
    assert asked.kind == "more_time" and asked.asked_minutes == 30 and asked.pending
    assert asked.device == "192.168.1.20" and asked.message == "finishing a level"
    (event,) = list_events(engine, "Sam")
    assert event.kind == EventKind.CHILD_REQUEST and event.severity == "alert"
    page = kid(auth.client).get_data(as_text=True)
    assert "Sent! A grown-up will see it" in page and "Waiting for a grown-up." in page


def test_asking_to_unblock_an_app_or_a_site(auth, engine, sam):
    assert ask(auth, {"kind": "unblock", "app": "tiktok"}).status_code == 302
    assert ask(auth, {"kind": "unblock", "site": "Example.com"}).status_code == 302
    found = {(r.app, r.site) for r in requests.list_requests(engine, "Sam")}
    assert found == {("tiktok", None), (None, "example.com")}


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"kind": "unblock"}, "Choose an app or type a website"),
        ({"kind": "unblock", "app": "no-such-app"}, "Choose an app or type a website"),
        ({"kind": "unblock", "site": "not a site"}, "is not a website address"),
        ({"kind": "more_time", "minutes": "600"}, "Pick how long"),
        ({"kind": "party"}, "Choose what to ask for"),
    ],
)
def test_mistakes_are_explained_and_nothing_is_sent(auth, engine, sam, form, message):
    ask(auth, form)
    assert message in kid(auth.client).get_data(as_text=True)
    assert requests.list_requests(engine) == []


def test_a_device_nobody_set_up_cannot_ask(client, auth, engine, sam):
    phone = {"REMOTE_ADDR": "192.168.1.99"}
    token = auth.token_in(kid(client).get_data(as_text=True))  # the session's token
    client.post(
        "/kids/ask",
        data={"kind": "more_time", "minutes": "30", "csrf_token": token},
        environ_base=phone,
    )
    assert requests.list_requests(engine) == []


def test_asking_needs_the_forms_token(client, sam, engine):
    response = client.post(
        "/kids/ask", data={"kind": "more_time", "minutes": "30"}, environ_base=SAMS
    )
    assert response.status_code == 400 and requests.list_requests(engine) == []


def test_the_answer_shows_on_the_childs_page(auth, engine, sam, clock):
    ask(auth, {"kind": "more_time", "minutes": "15"})
    (asked,) = requests.list_requests(engine)
    requests.decide_request(engine, asked.id, True, 15, clock())
    assert "A grown-up said yes (15 minutes)." in kid(auth.client).get_data(as_text=True)


def test_the_device_is_found_by_its_wifi_address_first(app, client, engine):
    alex = store.add_child(engine, "Alex", date(2018, 6, 1))
    store.add_device(engine, mac="3e:00:00:00:00:07", owner="child", child_id=alex.id)
    app.extensions["houserules"].neighbours = lambda: {"192.168.1.77": "3e:00:00:00:00:07"}
    page = client.get("/kids", environ_base={"REMOTE_ADDR": "192.168.1.77"})
    assert "Hi Alex!" in page.get_data(as_text=True)


def test_the_block_pages_ask_a_parent_link_fills_in_the_site(auth, engine, sam):
    page = kid(auth.client, "/kids?site=Videos.Example.COM").get_data(as_text=True)
    assert 'name="site" type="text" value="videos.example.com"' in page
    assert "Want <strong>videos.example.com</strong>?" in page
    token = auth.token_in(page)  # one tap: the form as the page filled it in
    form = {"kind": "unblock", "app": "", "site": "videos.example.com", "csrf_token": token}
    assert auth.client.post("/kids/ask", data=form, environ_base=SAMS).status_code == 302
    (asked,) = requests.list_requests(engine, "Sam")
    assert asked.site == "videos.example.com"


@pytest.mark.parametrize(
    "junk",
    [
        "",
        "<script>alert(1)</script>",
        "javascript:alert(1)",
        "not a website",
        "localhost",
        "a" * 250 + ".com",
        "example..com",
        "-bad-.example.com",
    ],
)
def test_a_site_that_is_not_a_host_name_is_ignored(client, sam, junk):
    response = kid(client, "/kids", query_string={"site": junk})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'name="site" type="text" value=""' in page and "Want <strong>" not in page
    assert "<script>alert" not in page


GROWN_UP_APPS = ("Tinder", "Bumble", "Hinge", "Omegle", "Chatroulette", "OmeTV")


@pytest.fixture
def nine(engine):
    """A 9-year-old on the clock's day (18 November 2026)."""
    child = store.add_child(engine, "Ada", date(2017, 6, 1))
    store.add_device(engine, ip="192.168.1.21", owner="child", child_id=child.id)
    return child


def test_under_13_the_page_never_names_or_offers_grown_up_apps(client, auth, nine):
    page = client.get("/kids", environ_base={"REMOTE_ADDR": "192.168.1.21"}).get_data(as_text=True)
    assert "Hi Ada!" in page and "Apps that are off for you" in page
    for name in GROWN_UP_APPS:
        assert name not in page, name
    assert "TikTok" in page  # what a 9-year-old might sensibly ask for, with why it is off
    assert "Some apps and sites made only for grown-ups are off too." in page


def test_under_13_a_grown_up_app_cannot_be_asked_for_by_hand(client, auth, engine, nine):
    ada = {"REMOTE_ADDR": "192.168.1.21"}
    token = auth.token_in(client.get("/kids", environ_base=ada).get_data(as_text=True))
    form = {"kind": "unblock", "app": "tinder", "csrf_token": token}
    page = client.post("/kids/ask", data=form, environ_base=ada, follow_redirects=True)
    assert "Choose an app or type a website" in page.get_data(as_text=True)
    assert requests.list_requests(engine) == []


def test_from_13_the_list_is_the_whole_truth(client, auth, engine):
    teen = store.add_child(engine, "Jo", date(2012, 1, 1))  # 14
    store.add_device(engine, ip="192.168.1.22", owner="child", child_id=teen.id)
    page = client.get("/kids", environ_base={"REMOTE_ADDR": "192.168.1.22"}).get_data(as_text=True)
    assert "Tinder" in page and "grown-ups are off too" not in page


def test_a_child_sees_the_extra_time_they_were_given(client, auth, engine, sam, clock):
    from datetime import timedelta

    from agent.store import overlays

    overlays.add_overlay(
        engine, sam.id, "unblock", clock() + timedelta(hours=1), clock(),
        target_kind="app", target="tiktok",
    )  # fmt: skip
    page = kid(client).get_data(as_text=True)
    assert "A grown-up said yes: TikTok is allowed until 19:00." in page
