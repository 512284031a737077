"""Settings: parents' accounts and passwords, carers, and the config shown with where to change
it; updating the lists in the background."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import date

from agent.config import HostPort
from agent.lists import job as lists_job
from agent.store import accounts
from agent.store import household as store


def test_the_config_is_shown_read_only_with_where_to_change_it(auth):
    auth.login()
    page = auth.client.get("/settings").get_data(as_text=True)
    assert "9.9.9.9:53" in page and "[upstream] servers" in page
    assert "bypass" in page and "[[blocklists.sources]]" in page
    assert "30 days" in page and "365 days" in page
    assert "Update the lists now" in page


def test_the_family_filter_for_children_is_named_or_said_to_be_off(app, auth):
    auth.login()
    page = auth.client.get("/settings").get_data(as_text=True)
    assert "No family filter is set" in page
    b = app.extensions["houserules"]
    cloudflare = (HostPort("1.1.1.3", 53), HostPort("1.0.0.3", 53))
    b.cfg = replace(b.cfg, upstream=replace(b.cfg.upstream, children=cloudflare))
    page = auth.client.get("/settings").get_data(as_text=True)
    assert "a family filter, Cloudflare for Families, as a second layer" in page
    assert "1.0.0.3:53" in page and "No family filter" not in page


def test_adding_and_removing_a_parent(auth, engine):
    auth.login()
    form = {"name": "Dad", "password": "another long password", "confirm": "another long password"}
    assert auth.post("/settings/accounts", form).status_code == 302
    assert [a.name for a in accounts.list_accounts(engine)] == ["Mum", "Dad"]
    again = auth.post("/settings/accounts", form)
    assert again.status_code == 400 and "already a parent called Dad" in again.get_data(
        as_text=True
    )
    short = auth.post("/settings/accounts", {"name": "Gran", "password": "x", "confirm": "x"})
    assert short.status_code == 400 and "at least 10 characters" in short.get_data(as_text=True)
    dad = accounts.list_accounts(engine)[1]
    auth.post(f"/settings/accounts/{dad.id}/remove")
    assert [a.name for a in accounts.list_accounts(engine)] == ["Mum"]
    me = accounts.list_accounts(engine)[0]
    auth.post(f"/settings/accounts/{me.id}/remove")  # the last account stays
    assert len(accounts.list_accounts(engine)) == 1


def test_changing_the_password_needs_the_current_one(auth, engine, clock):
    auth.login()
    wrong = {
        "current": "not it at all",
        "new": "a new long password",
        "confirm": "a new long password",
    }
    response = auth.post("/settings/password", wrong)
    assert response.status_code == 400
    assert "The current password is not right" in response.get_data(as_text=True)
    mismatch = {"current": auth.password, "new": "a new long password", "confirm": "different!!"}
    assert "not the same" in auth.post("/settings/password", mismatch).get_data(as_text=True)
    right = {
        "current": auth.password,
        "new": "a new long password",
        "confirm": "a new long password",
    }
    assert auth.post("/settings/password", right).status_code == 302
    assert accounts.authenticate(engine, "Mum", "a new long password", clock()) is not None


def test_carers_and_their_mistakes(auth, engine):
    auth.login()
    store.add_child(engine, "Sam", date(2015, 3, 1))
    form = {"name": "Gran", "email": "gran@example.org", "children": ["Sam"], "alerts": "y"}
    assert auth.post("/settings/carers", form).status_code == 302
    page = auth.client.get("/settings").get_data(as_text=True)
    assert "Gran" in page and "gran@example.org" in page and "hears about Sam" in page
    bad = auth.post("/settings/carers", form | {"name": "Grandad", "email": "not-an-address"})
    assert bad.status_code == 400 and "does not look like an email address" in bad.get_data(
        as_text=True
    )
    from agent.store.carers import list_carers

    (gran,) = list_carers(engine)
    auth.post(f"/settings/carers/{gran.id}/remove")
    assert list_carers(engine) == ()


def test_update_the_lists_now_runs_in_the_background_and_shows_its_report(auth, monkeypatch):
    auth.login()
    monkeypatch.setattr(
        lists_job,
        "compile_now",
        lambda cfg, catalog: lists_job.CompileOutcome(True, ["bypass: 250 names"]),
    )
    response = auth.post("/settings/lists/update")
    assert response.status_code == 302 and response.location.endswith("#lists")
    deadline = time.monotonic() + 5
    while "bypass: 250 names" not in (page := auth.client.get("/settings").get_data(as_text=True)):
        assert time.monotonic() < deadline, "the update did not finish"
        time.sleep(0.05)
    assert "Updated at 18:00" in page


def test_the_box_doing_the_households_jobs_is_named(app, auth, engine):
    from agent.store import lease

    auth.login()
    page = auth.client.get("/settings").get_data(as_text=True)
    assert "No box is sending emails or working out insights right now" in page
    b = app.extensions["houserules"]
    b.cfg = replace(b.cfg, jobs=replace(b.cfg.jobs, box_name="kitchen"))
    assert lease.hold(engine, lease.HOUSEHOLD, "hall:41:ab", "hall", 30) is not None
    page = auth.client.get("/settings").get_data(as_text=True)
    assert "The box called <strong>hall</strong> sends the weekly digests" in page
    assert "This box (<strong>kitchen</strong>) answers as usual and stands by" in page
    assert lease.release(engine, lease.HOUSEHOLD, "hall:41:ab")
    assert lease.hold(engine, lease.HOUSEHOLD, "kitchen:42:cd", "kitchen", 30) is not None
    page = auth.client.get("/settings").get_data(as_text=True)
    assert "This box (<strong>kitchen</strong>) sends the weekly digests" in page
    assert "No box is sending" not in page
