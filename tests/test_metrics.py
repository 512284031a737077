"""/metrics scraped from the real dashboard while the real DNS process answers real loopback
queries: the counters move by exactly the queries sent. The DNS process hands its counters
over in a file it rewrites every two seconds; who may scrape is checked too."""

from __future__ import annotations

import ipaddress
import json
import re
from datetime import date, datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agent.config import Config, DnsConfig
from agent.ops import stats
from agent.store import api_tokens
from agent.store import household as store
from dashboard import create_app

from agenttools import TZ, until
from apitools import CHILD_IP, Box

ADULT_IP = "127.0.0.7"


@pytest.fixture
def box(tmp_path):
    with Box(tmp_path) as running:
        yield running


def scrape(box, token: str | None = None) -> dict[tuple[str, tuple], float]:
    answer = box.browser.open("GET", "/metrics", token=token, cookies=False)
    assert answer.status == 200, answer.body
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(answer.body):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_counters_move_by_exactly_the_queries_sent(box):
    ada = store.add_child(box.engine, "Ada", date(2017, 6, 1))  # 9: TikTok is for 13+
    store.add_device(box.engine, ip=CHILD_IP, name="Ada's tablet", owner="child", child_id=ada.id)
    store.add_device(box.engine, ip=ADULT_IP, name="Laptop", owner="adult")
    until(lambda: box.blocked("tiktok.com"))  # the household has reached the DNS
    box.agent.agent.writer.flush()
    # a scrape after the DNS process has written its counters since that last query
    path = stats.stats_path(box.cfg)
    written = box.agent.agent.writer.written
    until(lambda: (stats.read_stats(path) or {}).get("querylog", {}).get("written") == written)
    before = scrape(box)
    assert value(before, "houserules_dns_stats_available") == 1
    version = store.household_version(box.engine)
    assert value(before, "houserules_household_version") == version
    assert value(before, "houserules_household_database_readable") == 1
    assert ("houserules_household_from_copy", ()) in before

    for _ in range(3):  # blocked by age, three times
        assert box.blocked("tiktok.com")
    assert not box.blocked("example.com", ADULT_IP)  # one from upstream (or the cache)
    assert not box.blocked("www.example.com", ADULT_IP)  # another
    assert not box.blocked("www.example.com", ADULT_IP)  # the same again: from the cache
    box.agent.agent.writer.flush()

    def moved() -> dict:
        now = scrape(box)
        done = value(now, "houserules_querylog_rows_written_total") - value(
            before, "houserules_querylog_rows_written_total"
        )
        return now if done == 6 else {}

    after: dict = {}
    until(lambda: bool(after.update(moved()) or after), 8.0)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("houserules_dns_queries_total", outcome="blocked") == 3
    assert delta("houserules_dns_blocked_total", reason="age") == 3
    assert delta("houserules_dns_queries_total", outcome="answered") == 3
    cached = delta("houserules_dns_answers_total", source="cache")
    fetched = delta("houserules_dns_answers_total", source="upstream")
    assert cached + fetched == 3 and cached >= 1
    assert delta("houserules_dns_cache_hits_total") == cached
    assert delta("houserules_dns_queries_total", outcome="refused") == 0
    assert delta("houserules_querylog_rows_dropped_total") == 0
    assert delta("houserules_querylog_rows_rejected_total") == 0
    assert value(after, "houserules_querylog_rows_on_disk") == 0
    label = box.upstream.address
    assert value(after, "houserules_upstream_up", server=label) == 1
    assert delta("houserules_upstream_latency_seconds_count", server=label) == fetched
    assert value(after, "houserules_upstream_latency_seconds_sum", server=label) > 0
    assert value(after, "houserules_dns_process_starts_total") == 1
    assert value(after, "houserules_list_names", list="bypass") > 0
    assert value(after, "houserules_list_age_seconds", list="bypass") >= 0


def test_refused_and_rate_limited_queries_are_counted(tmp_path):
    with Box(tmp_path, extra_dns="client_rate_limit = 5\n") as box:
        path = stats.stats_path(box.cfg)
        until(lambda: stats.read_stats(path) is not None)
        before = scrape(box)
        replies = [box.ask("example.com", "127.0.0.9").header.rcode for _ in range(8)]
        assert replies.count(5) == 3  # REFUSED past five a minute
        after: dict = {}

        def moved() -> bool:
            after.update(scrape(box))
            return (
                value(after, "houserules_dns_queries_total", outcome="rate_limited")
                - value(before, "houserules_dns_queries_total", outcome="rate_limited")
                == 3
            )

        until(moved, 8.0)


def test_metrics_are_open_to_the_home_network_and_otherwise_need_a_token(tmp_path, engine):

    elsewhere = DnsConfig(allow_networks=(ipaddress.ip_network("192.0.2.0/24"),))
    cfg = Config(base_dir=tmp_path, dns=elsewhere)
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "k" * 40}, cfg=cfg, engine_factory=lambda: engine
    )
    client = app.test_client()  # from 127.0.0.1: not in allow_networks here
    refused = client.get("/metrics")
    assert refused.status_code == 401 and "token" in refused.get_json()["error"]
    _, token = api_tokens.create_token(engine, "Grafana", "read", datetime.now(TZ))
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    body = ok.get_data(as_text=True)
    assert "houserules_dns_stats_available 0.0" in body  # no DNS process here: said, not hidden
    home = create_app({"TESTING": True, "SECRET_KEY": "k" * 40}, cfg=Config(base_dir=tmp_path),
                      engine_factory=lambda: engine)  # fmt: skip
    assert home.test_client().get("/metrics").status_code == 200


def test_the_counters_file_is_replaced_whole(tmp_path):
    path = tmp_path / "data" / stats.STATS_FILE
    stats.write_stats(path, {"starts": 3, "queries": {"cache": 1}})
    assert json.loads(path.read_text()) == {"starts": 3, "queries": {"cache": 1}}
    assert stats.previous_starts(path) == 3
    assert [p.name for p in path.parent.iterdir()] == [stats.STATS_FILE]  # no temporary left
    path.write_text("{half")
    assert stats.read_stats(path) is None and stats.previous_starts(path) == 0
    assert re.fullmatch(r"dns-stats\.json", path.name)
