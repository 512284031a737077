"""Budgets on the dashboard: /kids shows the time left, "5 minutes left", then "time's up";
Home shows used / allowed with one-tap extra time that reaches the snapshot; a child's page
sets a budget with the honest note. Minutes come from the real activity tables through
`record_use`, as the jobs process writes them."""

from __future__ import annotations

from datetime import date

import pytest

from agent.rules import budgets as rules
from agent.store import budgets, rollup_writes
from agent.store import household as store
from agent.store.snapshot import read_household

SAMS = {"REMOTE_ADDR": "192.168.1.20"}


@pytest.fixture
def sam(engine):
    child = store.add_child(engine, "Sam", date(2014, 3, 1))
    store.add_device(engine, ip="192.168.1.20", owner="child", child_id=child.id)
    return child


def use(engine, clock, minutes: int) -> None:
    """Sam played Roblox for `minutes` minutes ending now (as the insights job counts them)."""
    end = int(clock().timestamp() // 60)
    with engine.begin() as conn:
        rollup_writes.add_counted(
            conn, "Sam", "app", "roblox", set(range(end - minutes + 1, end + 1))
        )
    budgets.record_use(engine, {1: "Sam"}, {"roblox": "gaming", "minecraft": "gaming"}, clock())


def kids(client) -> str:
    return client.get("/kids", environ_base=SAMS).get_data(as_text=True)


def test_kids_page_counts_down_to_times_up(client, engine, clock, sam) -> None:
    budgets.set_budget(engine, sam.id, "category", "gaming", rules.week_of(60, 120))
    assert "Gaming: 1 hour left." in kids(client)
    use(engine, clock, 55)
    page = kids(client)
    assert "Gaming: 5 minutes left. Time to finish what you" in page
    clock.advance(minutes=5)
    use(engine, clock, 60)
    page = kids(client)
    assert "Gaming: time&#39;s up for today. You can ask a grown-up for more time" in page
    # the DNS process's snapshot says the same (the version moved when it ran out)
    household = read_household(engine.url.database)
    assert rules.state(household.budgets[0], household.overlays, clock()).used_up


def test_home_one_tap_extra_time(auth, engine, clock, sam) -> None:
    budget = budgets.set_budget(engine, sam.id, "category", "gaming", rules.week_of(60, 120))
    use(engine, clock, 60)
    auth.login()
    home = auth.client.get("/").get_data(as_text=True)
    assert "<strong>Gaming</strong>: 60 of 60 min today" in home and "time&#39;s up" in home
    version = read_household(engine.url.database).version
    reply = auth.post(f"/budgets/{budget.id}/more", {"for": "15", "back": "/"}, page="/")
    assert reply.status_code == 302
    household = read_household(engine.url.database)
    assert household.version > version  # the DNS re-reads at its next poll
    assert rules.state(household.budgets[0], household.overlays, clock()).left == 15
    assert "15 minutes left" in auth.client.get("/").get_data(as_text=True)
    auth.post(f"/budgets/{budget.id}/more", {"for": "today", "back": "/"}, page="/")
    assert "no limit today" in auth.client.get("/").get_data(as_text=True)
    assert auth.post(f"/budgets/{budget.id}/more", {"for": "999"}, page="/").status_code == 400


def test_child_page_sets_a_budget_with_the_honest_note(auth, engine, sam) -> None:
    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "an app working in the background counts as use" in page
    form = {"kind": "app", "app": "youtube", "category": "gaming", "school": "30",
            "weekend": "90", "day2": "0", "reset_hour": "4"}  # fmt: skip
    assert (
        auth.post(f"/children/{sam.id}/budgets", form, page=f"/child/{sam.id}").status_code == 302
    )
    (saved,) = budgets.list_budgets(engine, sam.id)
    assert (saved.kind, saved.target, saved.days) == ("app", "youtube", (30, 30, 0, 30, 30, 90, 90))
    bad = form | {"school": "lots"}
    auth.post(f"/children/{sam.id}/budgets", bad, page=f"/child/{sam.id}")
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "give the minutes as whole numbers" in page
    assert budgets.list_budgets(engine, sam.id)[0].days == saved.days  # nothing lost


def test_saying_yes_to_more_time_adds_it_to_a_used_up_budget(engine, clock, sam) -> None:
    from agent.household import requests

    budgets.set_budget(engine, sam.id, "category", "gaming", rules.week_of(60, 120))
    use(engine, clock, 60)
    asked = requests.add_request(engine, sam.id, "more_time", clock(), minutes=30)
    answered = requests.decide_request(engine, asked.id, True, None, clock())
    assert "30 more minutes on today's budget" in answered.outcome
    household = read_household(engine.url.database)
    assert rules.state(household.budgets[0], household.overlays, clock()).left == 30


def test_a_treat_from_the_child_page_is_an_overlay_with_an_end(auth, engine, clock, sam) -> None:
    from datetime import time

    from agent.store import overlays

    bedtime = store.add_schedule(engine, sam.id, "Bedtime", range(7), time(20), time(7),
                                 block_all=True)  # fmt: skip
    auth.login()
    page = f"/child/{sam.id}"
    auth.post(f"/children/{sam.id}/reward", {"what": "app:youtube", "until": "19:00"}, page=page)
    later = {"what": f"schedule:{bedtime.id}", "until": "21:00"}
    auth.post(f"/children/{sam.id}/reward", later, page=page)
    made = overlays.list_overlays(engine, sam.id, running_at=clock())
    assert [(o.kind, o.target, o.schedule_id) for o in made] == [
        ("unblock", "youtube", None),
        ("more_time", None, bedtime.id),
    ]
    assert [o.until.astimezone(clock().tzinfo).strftime("%H:%M") for o in made] == [
        "19:00", "21:00"
    ]  # fmt: skip
    assert store.list_rules(engine, sam.id) == ()  # never an edit of the rules
    shown = auth.client.get(page).get_data(as_text=True)
    assert "YouTube is allowed until" in shown and "End it now" in shown
    auth.post(f"/children/{sam.id}/reward", {"what": "app:youtube", "until": "soon"}, page=page)
    assert "say until when, like 18:00" in auth.client.get(page).get_data(as_text=True)
