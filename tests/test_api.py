"""The JSON API end to end: the real dashboard served by waitress, the real DNS process on
loopback with a real upstream, the real store. A parent makes tokens in Settings; the API turns
away what it must (401, 403, 429) and every route works with a parent's token; a pause sent
through the API changes a real DNS answer within 2 s."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest

from agent.household import requests
from agent.store import api_tokens
from agent.store import household as store
from dashboard.api.spec import OPERATIONS, PREFIX

from agenttools import TZ, until
from apitools import CHILD_IP, Box

API = PREFIX


@pytest.fixture(autouse=True)
def cheap_passwords(monkeypatch):
    from argon2 import PasswordHasher

    from agent.store import accounts

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", lambda: cheap)


@pytest.fixture
def box(tmp_path):
    with Box(tmp_path) as running:
        yield running


@pytest.fixture
def family(box):
    ada = store.add_child(box.engine, "Ada", date(2017, 6, 1))  # 9
    store.add_device(box.engine, ip=CHILD_IP, name="Ada's tablet", owner="child", child_id=ada.id)
    return ada


def test_a_token_is_made_in_settings_shown_once_and_kept_only_as_its_hash(box):
    browser = box.parent()
    token = browser.make_token("Kitchen tablet", "write")
    assert token.startswith("hr_") and len(token) > 40
    settings = browser.page("/settings")
    assert "Kitchen tablet" in settings and token not in settings  # shown that once only
    [row] = api_tokens.list_tokens(box.engine)
    assert row.scope == "write" and row.last_used_at is None
    with box.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM api_tokens").scalar_one()
    assert stored == api_tokens.digest(token) and token not in stored

    answer = browser.open("GET", f"{API}/children", token=token, cookies=False)
    assert answer.status == 200 and answer.body == {"children": []}
    assert api_tokens.list_tokens(box.engine)[0].last_used_at is not None
    assert "last used just now" in browser.page("/settings")

    [found] = api_tokens.list_tokens(box.engine)
    revoke = browser.submit(f"/settings/tokens/{found.id}/revoke", {})
    assert revoke.status == 200 and "Revoked" in revoke.body
    again = browser.open("GET", f"{API}/children", token=token, cookies=False)
    assert again.status == 401 and "not valid" in again.body["error"]


def test_no_token_a_wrong_one_or_a_read_only_one_writing_is_turned_away(box, family):
    browser = box.parent()
    reader = browser.make_token("Grafana", "read")
    # logged in, with the session cookie but no token: the API never reads the cookie
    with_cookie = browser.open("GET", f"{API}/children")
    assert with_cookie.status == 401
    assert "Authorization: Bearer" in with_cookie.body["error"]
    assert with_cookie.headers["WWW-Authenticate"].startswith("Bearer")
    # ... nor does it want a CSRF token (it is not a form), and a cookie cannot write
    posted = browser.open("POST", f"{API}/children/{family.id}/pause", body={"for": "30"})
    assert posted.status == 401
    assert browser.open("GET", f"{API}/children", token=reader).status == 200
    refused = browser.open(
        "POST", f"{API}/children/{family.id}/pause", token=reader, body={"for": "30"}
    )
    assert refused.status == 403 and "read-only" in refused.body["error"]
    assert store.load_household(box.engine).rules_for(family.id).paused_until is None
    wrong = browser.open("GET", f"{API}/children", token="hr_" + "x" * 43)
    assert wrong.status == 401 and wrong.body["error"]


def test_wrong_tokens_are_throttled_like_logins(box):
    browser = box.parent()
    good = browser.make_token("Phone", "read")
    allowed = box.cfg.dashboard.login_failures_allowed
    for n in range(allowed):
        answer = browser.open("GET", f"{API}/children", token=f"hr_guess{n}", cookies=False)
        assert answer.status in (401, 429)
    locked = browser.open("GET", f"{API}/children", token="hr_another", cookies=False)
    assert locked.status == 429 and "wait" in locked.body["error"]
    assert int(locked.headers["Retry-After"]) > 0
    # the address is locked as a login would be: even the right token waits
    assert browser.open("GET", f"{API}/children", token=good, cookies=False).status == 429


def test_bad_requests_get_a_message_a_person_can_read(box, family):
    token = box.parent().make_token("Shortcut", "write")
    b = box.browser
    bad = b.open("POST", f"{API}/children/{family.id}/pause", token=token, body={"for": "9 h"})
    assert bad.status == 400 and bad.body["error"].startswith("Check the request: for:")
    none = b.open("POST", f"{API}/children/{family.id}/more-time", token=token)
    assert none.status == 400 and "JSON" in none.body["error"]
    extra = b.open(
        "POST", f"{API}/children/{family.id}/more-time", token=token, body={"minutes": 999}
    )
    assert extra.status == 400 and "minutes" in extra.body["error"]
    missing = b.open("GET", f"{API}/children/999", token=token)
    assert missing.status == 404 and missing.body == {"error": "There is no child with id 999."}
    nowhere = b.open("GET", f"{API}/nothing-here", token=token)
    assert nowhere.status == 404 and "error" in nowhere.body
    wrong_method = b.open("PUT", f"{API}/children", token=token, body={})
    assert wrong_method.status == 405 and "PUT" in wrong_method.body["error"]


def test_the_openapi_document_describes_every_route_and_its_bodies(box):
    app = box.dashboard.app  # the Flask app waitress serves
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix(API)), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(API + "/") and rule.endpoint != "api.openapi_json"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    answer = box.browser.open("GET", f"{API}/openapi.json")  # no token: it holds no family data
    assert answer.status == 200
    doc = answer.body
    described = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert served == described and len(served) == len(OPERATIONS)
    schemas = doc["components"]["schemas"]
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and op["responses"]["401"]
            ref = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            if ref:
                assert ref["schema"]["$ref"].rsplit("/", 1)[1] in schemas
    pause = schemas["PauseBody"]
    assert pause["properties"]["for"]["enum"] == ["30", "60", "120", "morning"]


def test_every_route_works_with_a_parents_token(box, family):
    b = box.browser
    token = box.parent().make_token("Home Assistant", "write")
    engine, now = box.engine, datetime.now(TZ)
    bedtime = store.add_schedule(
        engine, family.id, "Bedtime", range(7), (now - timedelta(hours=1)).time(),
        (now + timedelta(hours=2)).time(), block_all=True,
    )  # fmt: skip
    asked = requests.add_request(engine, family.id, "more_time", now, minutes=30)
    asked2 = requests.add_request(engine, family.id, "unblock", now, app="tiktok")
    device = store.list_devices(engine)[0]
    called: set[str] = set()

    def call(endpoint: str, method: str, path: str, body=None, status: int = 200):
        answer = b.open(method, API + path, token=token, body=body, cookies=False)
        assert answer.status == status, (path, answer.body)
        called.add(endpoint)
        return answer.body

    children = call("list_children", "GET", "/children")["children"]
    assert [c["name"] for c in children] == ["Ada"]
    assert children[0]["now"]["schedules_on"] == [{"id": bedtime.id, "name": "Bedtime"}]
    assert children[0]["now"]["internet_off"] is True
    one = call("get_child", "GET", f"/children/{family.id}")
    tiktok = next(a for a in one["apps"] if a["id"] == "tiktok")
    assert tiktok["blocked"] and tiktok["choice"] == "default"
    paused = call("pause_child", "POST", f"/children/{family.id}/pause", {"for": "morning"})
    assert paused["now"]["paused_until"].endswith(("07:00:00+00:00", "07:00:00+01:00"))
    assert call("resume_child", "POST", f"/children/{family.id}/resume")["message"].startswith(
        "The internet is back on"
    )
    more = call("more_time", "POST", f"/children/{family.id}/more-time", {"minutes": 20})
    assert "Bedtime is off until" in more["message"]
    [held] = more["now"]["temporary_changes"]
    assert held["words"] == "More time: Bedtime is off"
    call("end_temporary", "DELETE", f"/children/{family.id}/temporary/{held['id']}")
    allowed = call(
        "allow", "POST", f"/children/{family.id}/allow", {"domain": "news.example.org", "for": "1h"}
    )
    assert allowed["now"]["temporary_changes"][0]["words"] == "news.example.org is allowed"
    assert store.list_rules(engine, family.id) == ()  # timed: no rule was written
    schedules = call("list_schedules", "GET", f"/children/{family.id}/schedules")["schedules"]
    assert schedules[0]["words"].startswith("every day")
    made = call(
        "add_schedule", "POST", f"/children/{family.id}/schedules",
        {"name": "School", "days": [0, 1, 2, 3, 4], "start": "09:00", "end": "15:00",
         "block_all": False, "block": ["games"]},
    )["schedule"]  # fmt: skip
    assert made["block"] == ["games"] and made["days"] == [0, 1, 2, 3, 4]
    call("remove_schedule", "DELETE", f"/children/{family.id}/schedules/{made['id']}")

    devices = call("list_devices", "GET", "/devices")["devices"]
    assert devices[0]["child_id"] == family.id and devices[0]["ip"] == CHILD_IP
    renamed = call("update_device", "PATCH", f"/devices/{device.id}", {"name": "Ada's iPad"})
    assert renamed["device"]["name"] == "Ada's iPad" and renamed["device"]["owner"] == "child"
    dp = call("pause_device", "POST", f"/devices/{device.id}/pause", {"for": "30"})
    assert dp["device"]["paused_until"] is not None
    assert (
        call("resume_device", "POST", f"/devices/{device.id}/resume")["device"]["paused_until"]
        is None
    )

    pending = call("list_requests", "GET", "/requests?status=pending")["requests"]
    assert {r["id"] for r in pending} == {asked.id, asked2.id}
    approved = call("approve_request", "POST", f"/requests/{asked.id}/approve", {})
    assert approved["request"]["status"] == "approved" and approved["request"]["minutes"] == 30
    declined = call("decline_request", "POST", f"/requests/{asked2.id}/decline")
    assert declined["request"]["status"] == "declined"
    twice = b.open("POST", f"{API}/requests/{asked2.id}/decline", token=token)
    assert twice.status == 409 and "already been answered" in twice.body["error"]
    events = call("events", "GET", f"/events?child_id={family.id}&limit=10")["events"]
    assert {e["kind"] for e in events} >= {"child_request"}
    day = call("day", "GET", f"/children/{family.id}/day")
    assert day["child"] == "Ada" and day["day"] == now.date().isoformat()
    week = call("week", "GET", f"/children/{family.id}/week")
    assert len(week["days"]) == 7
    other = store.add_device(engine, ip="127.0.0.9", name="Old phone", owner="unassigned")
    call("remove_device", "DELETE", f"/devices/{other.id}")
    assert store.get_device(engine, other.id) is None

    assert called == {op.endpoint for op in OPERATIONS}


def test_a_pause_sent_through_the_api_changes_a_real_dns_answer_within_2_s(box, family):
    token = box.parent().make_token("Wall tablet", "write")
    store.add_device(box.engine, ip="127.0.0.7", name="Dad's laptop", owner="adult")
    until(lambda: not box.blocked("example.com"))
    b = box.browser
    answer = b.open("POST", f"{API}/children/{family.id}/pause", token=token, body={"for": "30"})
    assert answer.status == 200 and answer.body["now"]["internet_off"] is True
    took = until(lambda: box.blocked("example.com"), 2.0)
    assert box.blocked("example.com") and not box.blocked("example.com", source="127.0.0.7")
    answer = b.open("POST", f"{API}/children/{family.id}/resume", token=token)
    assert answer.status == 200
    until(lambda: not box.blocked("example.com"), 2.0)
    assert took < 2.0
