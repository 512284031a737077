"""Alerts: severity, what happened in plain words, what to say with its source, acknowledging."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest

from agent.events import Event, EventKind, Severity
from agent.household import requests
from agent.store import household as store
from agent.store.events import list_events, record_events, unacknowledged_alerts

from prompttools import cites_a_letter


@pytest.fixture
def events(engine, clock):
    store.add_child(engine, "Sam", date(2015, 3, 1))
    store.add_device(engine, ip="192.168.1.20", name="Sam's tablet")
    now = clock()
    record_events(
        engine,
        [
            Event(
                now,
                EventKind.RANDOM_VIDEO_CHAT,
                Severity.ALERT,
                "Sam",
                "192.168.1.20",
                "ometv",
                {"app_name": "OmeTV", "blocked": True},
            ),
            Event(
                now - timedelta(hours=1),
                EventKind.FIRST_SITE,
                Severity.INFO,
                "Sam",
                details={"site": "example.com"},
            ),
            Event(
                now - timedelta(hours=2),
                EventKind.NEW_DEVICE,
                Severity.NOTICE,
                details={"ip": "192.168.1.50"},
            ),
        ],
    )
    return list_events(engine)


def test_alerts_in_plain_words_with_what_to_say_and_where_it_comes_from(auth, events):
    auth.login()
    page = auth.client.get("/alerts").get_data(as_text=True)
    assert "Sam&#39;s tablet looked up OmeTV at 18:00" in page and "It was blocked." in page
    assert 'class="sev sev-alert">Alert' in page and "Worth knowing" in page
    assert "What to say and do" in page and "Next step:" in page
    assert "Based on" in page and cites_a_letter(page)  # the prompt's source letter
    assert "How to block and report in the main apps" in page  # the fitting guide
    assert "example.com for the first time" not in page  # information only on "everything"
    everything = auth.client.get("/alerts?all=1").get_data(as_text=True)
    assert "Sam visited example.com for the first time" in everything


def test_alerts_for_one_child(auth, events):
    auth.login()
    page = auth.client.get("/alerts?child=Sam").get_data(as_text=True)
    assert "Alerts about Sam" in page and "new device" not in page.lower()


def test_acknowledging_one_then_all(auth, engine, events):
    auth.login()
    assert 'aria-label="1 unread"' in auth.client.get("/").get_data(as_text=True)
    (alert,) = unacknowledged_alerts(engine)
    response = auth.post(f"/alerts/{alert.id}/ack")
    assert response.status_code == 302 and response.location.endswith(f"#event-{alert.id}")
    assert unacknowledged_alerts(engine) == []
    assert "unread" not in auth.client.get("/").get_data(as_text=True)
    assert auth.post("/alerts/999/ack").status_code == 404
    record_events(
        engine,
        [
            Event(
                events[0].time,
                EventKind.BYPASS_SUSPECTED,
                Severity.ALERT,
                "Sam",
                details={"signal": "vpn-proxy", "name": "vpn.test"},
            )
        ],
    )
    auth.post("/alerts/ack-all")
    assert unacknowledged_alerts(engine) == []


def test_a_childs_request_is_an_alert_in_plain_words(auth, engine, clock):
    auth.login()
    sam = store.add_child(engine, "Sam", date(2015, 3, 1))
    requests.add_request(engine, sam.id, "unblock", clock(), app="tiktok", message="my friends")
    page = auth.client.get("/alerts").get_data(as_text=True)
    assert "Sam asked you to unblock TikTok at 18:00. They wrote: “my friends”" in page
    assert "Thanks for asking me first" in page  # the request prompt


def test_the_alerts_page_is_paged_and_quick_with_100000_events(auth, engine, clock):
    """What a forged-address flood made before new devices were taken in at a bounded rate:
    a notice per address. The page reads one page of them and names only their devices."""
    auth.login()
    store.add_device(engine, ip="10.0.0.1", name="Sam's tablet")
    start = clock().timestamp()
    rows = [
        (start - i, "new_device", "notice", f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
         f'{{"ip": "10.{i // 65536}.{i // 256 % 256}.{i % 256}"}}', f"new_device:{i}")
        for i in range(100_000)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO events (time, kind, severity, device, details, dedupe_key, acknowledged)"
            " VALUES (?, ?, ?, ?, ?, ?, 0)",
            rows,
        )
        conn.exec_driver_sql(
            "INSERT INTO events (time, kind, severity, details, dedupe_key, acknowledged) "
            "VALUES (?, 'address_flood', 'alert', '{\"skipped\": 99000}', 'flood', 0)",
            (start + 1,),
        )
    auth.client.get("/alerts")  # templates compiled once, as on a running box
    # The page's own work in CPU time: a busy machine's other processes do not count.
    started = time.process_time()
    response = auth.client.get("/alerts")
    took = time.process_time() - started
    page = response.get_data(as_text=True)
    print(f"\n/alerts with 100,001 events: {took * 1000:.0f} ms, {len(page)} bytes")
    assert response.status_code == 200 and took < 1.0, f"{took:.2f}s of CPU"
    assert page.count('class="card alert') == 50 and 'rel="next"' in page
    assert (
        "Many new addresses appeared at once: something on the network may be forging them" in page
    )
    second = auth.client.get("/alerts?page=2").get_data(as_text=True)
    assert 'rel="prev"' in second and "(10.0.0.49)" in second  # the 51st newest event
    last = auth.client.get("/alerts?page=2001").get_data(as_text=True)
    assert 'rel="next"' not in last and "(10.1.134.159)" in last  # the oldest
