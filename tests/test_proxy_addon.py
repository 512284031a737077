"""The addon's hooks, driven with mitmproxy's own test helpers (taddons, tflow): synthetic flows
from a real household's devices, decided by the real rules engine, with fakes standing in
for the writers (rows and events are collected, nothing is written)."""

from __future__ import annotations

import asyncio

import pytest
from mitmproxy import exceptions, http
from mitmproxy.proxy import server_hooks
from mitmproxy.test import taddons, tflow

from agent.events import EventKind, Severity
from agent.proxy import gate, resolver
from agent.proxy.addon import HouseRules
from agent.proxy.contacts import ContactKind

from proxytools import (
    NOON,
    PARENT,
    SAM_PHONE,
    SAM_TABLET,
    STRANGER,
    client,
    client_hello,
    flow,
    json_body,
    make_runtime,
)

FRIEND_REQUESTS = "https://friends.roblox.com/v1/my/friends/requests?limit=10"
REQUEST_BODY = {
    "previousPageCursor": None,
    "nextPageCursor": None,
    "data": [
        {
            "friendRequest": {"sentAt": "2026-11-23T11:58:02Z", "senderId": 987,
                              "sourceUniverseId": 0, "originSourceType": "UserProfile"},
            "mutualFriendsList": [], "id": 987, "name": "cool_builder_77",
            "displayName": "CoolBuilder",
        }
    ],
}  # fmt: skip


@pytest.fixture
def parts():
    return make_runtime()


@pytest.fixture
def addon(parts):
    addon = HouseRules(parts.runtime, clock=lambda: NOON)
    with taddons.context(addon):
        yield addon


# -- who is looked into -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "sni", "ignored"),
    [
        (SAM_TABLET, "www.tiktok.com", False),  # marked "inspect": opened
        (SAM_PHONE, "www.tiktok.com", True),  # Sam's too, not marked: untouched
        (STRANGER, "www.tiktok.com", True),
        (SAM_TABLET, "mesu.apple.com", True),  # pinned: untouched
        (SAM_TABLET, "gateway.push.apple.com", True),  # below a pinned name
        (SAM_TABLET, None, False),  # no name to go by: opened
    ],
)
def test_tls_clienthello_passes_through_devices_not_marked_and_pinned_hosts(
    addon, ip, sni, ignored
):
    data = client_hello(sni, ip)
    addon.tls_clienthello(data)
    assert data.ignore_connection is ignored


def test_a_host_whose_app_refuses_the_certificate_passes_through_from_then_on(addon):
    data = client_hello("api.mybank.example")
    addon.tls_clienthello(data)
    assert not data.ignore_connection
    addon.tls_failed_client(data)  # the app pins its certificate: the handshake failed
    again = client_hello("api.mybank.example")
    addon.tls_clienthello(again)
    assert again.ignore_connection
    other = client_hello("api.mybank.example", PARENT)  # learned per device
    addon.tls_clienthello(other)
    assert not other.ignore_connection


@pytest.mark.parametrize("ip", [SAM_PHONE, STRANGER])
def test_a_device_not_marked_is_refused_with_a_page_saying_why(addon, parts, ip):
    for hook, f in (
        (addon.request, flow("http://blocked.test/page", ip)),
        (addon.http_connect, flow("https://www.bbc.co.uk/", ip, method="CONNECT")),
    ):
        hook(f)
        assert f.response.status_code == 403
        assert "not set up to use the house proxy" in f.response.text
    assert parts.rows == []  # refused, not recorded


@pytest.mark.parametrize(
    ("ip", "refused"),
    [
        (SAM_TABLET, False),
        (SAM_PHONE, False),  # on the home network: it gets the page that says why
        ("203.0.113.9", True),  # from outside the home's networks: closed at once
        ("2001:db8::9", True),
        ("not an address", True),
    ],
)
def test_only_clients_on_the_home_networks_may_connect(addon, ip, refused):
    conn = client(ip)
    addon.client_connected(conn)
    assert bool(conn.error) is refused


def test_in_wireguard_mode_a_device_not_marked_is_closed_at_once():
    parts = make_runtime(mode="wireguard")
    addon = HouseRules(parts.runtime, clock=lambda: NOON)
    with taddons.context(addon):
        marked, unmarked = client(SAM_TABLET), client(SAM_PHONE)
        addon.client_connected(marked)
        addon.client_connected(unmarked)
    assert not marked.error and unmarked.error == "device not marked inspect"


@pytest.mark.parametrize("host", ["127.0.0.1", "192.168.1.2", "[::1]", "169.254.1.1"])
def test_nobody_is_carried_to_the_box_itself(addon, host):
    f = flow(f"http://{host}:8080/settings", SAM_TABLET)  # the box is 192.168.1.2 here
    addon.request(f)
    assert f.response.status_code == 403 and "on the HouseRules box itself" in f.response.text


def test_a_gate_that_fails_closes_the_connection(addon, parts, monkeypatch):
    def broken(*args):
        raise RuntimeError("the policy is unreadable")

    monkeypatch.setattr(addon, "_inspected", broken)
    f = flow("http://www.bbc.co.uk/", SAM_TABLET)
    addon.request(f)
    assert f.response.status_code == 403
    monkeypatch.setattr(gate, "admitted", broken)
    conn = client(SAM_TABLET)
    addon.client_connected(conn)
    assert "could not check" in conn.error


# -- the house rules --------------------------------------------------------------------------


def test_a_blocked_host_gets_the_block_page_with_the_reason_and_a_way_to_ask(addon, parts):
    f = flow("http://blocked.test/games?level=3")
    addon.request(f)
    assert f.response.status_code == 403
    page = f.response.text
    assert "Blocked for Sam by a house rule: blocked.test" in page
    assert "blocked.test: blocked by a parent" in page
    assert 'href="http://127.0.0.1:8080/kids?site=blocked.test"' in page
    assert f.response.headers["Cache-Control"] == "no-store"
    (row,) = parts.rows
    assert row[1:8] == (SAM_TABLET, None, "Sam", "blocked.test", "HTTP", "block",
                        "block:domain:blocked.test")  # fmt: skip
    assert row[8] == "Blocked for Sam by a house rule: blocked.test"


def test_an_app_above_the_childs_age_is_blocked_by_the_same_rule_as_the_dns(addon):
    f = flow("https://www.tiktok.com/foryou")
    addon.request(f)
    assert "Blocked: TikTok is for 13+, Sam is 11" in f.response.text
    assert f.metadata["houserules"] == "age:tiktok"


def test_an_allowed_host_passes_and_is_logged_once_a_minute(addon, parts):
    for _ in range(3):
        f = flow("https://www.bbc.co.uk/newsround")
        addon.request(f)
        assert f.response is None
    (row,) = parts.rows
    assert row[4:8] == ("www.bbc.co.uk", "HTTP", "allow", "default")


def test_an_adult_gets_only_the_rules_for_everyone(addon, parts):
    f = flow("http://blocked.test/", PARENT)
    addon.request(f)
    assert f.response is None
    g = flow("https://www.youtube.com/shorts/abc", PARENT)
    addon.request(g)
    assert g.response is None and "YouTube-Restrict" not in g.request.headers


def test_the_dashboard_link_uses_the_address_the_device_reached_the_box_on(parts):
    from dataclasses import replace

    from agent.config import DashboardConfig, HostPort

    parts.runtime.cfg = replace(
        parts.runtime.cfg, dashboard=DashboardConfig(HostPort("0.0.0.0", 8080))
    )
    addon = HouseRules(parts.runtime, clock=lambda: NOON)
    with taddons.context(addon):
        f = flow("http://blocked.test/")
        f.client_conn.sockname = ("192.168.1.2", 8081)
        addon.request(f)
    assert 'href="http://192.168.1.2:8080/kids?site=blocked.test"' in f.response.text


# -- paths and safe search --------------------------------------------------------------------


def test_youtube_is_allowed_but_shorts_are_not(addon, parts):
    watch = flow("https://www.youtube.com/watch?v=abc")
    addon.request(watch)
    assert watch.response is None
    shorts = flow("https://www.youtube.com/shorts/xyz")
    addon.request(shorts)
    assert shorts.response.status_code == 403
    assert "YouTube Shorts is not open right now" in shorts.response.text
    assert "the rest of YouTube works" in shorts.response.text
    assert "YouTube Shorts: switched off in the house rules" in shorts.response.text
    assert "path:" not in shorts.response.text  # the rule in words, never its log text
    assert parts.rows[-1][6:8] == ("block", "path:youtube-shorts")


def test_path_rules_not_switched_on_do_nothing():
    parts = make_runtime(block_paths=())
    addon = HouseRules(parts.runtime, clock=lambda: NOON)
    with taddons.context(addon):
        f = flow("https://www.youtube.com/shorts/xyz")
        addon.request(f)
    assert f.response is None


@pytest.mark.parametrize(
    ("url", "param", "value"),
    [
        ("https://www.google.co.uk/search?q=owls&safe=off", "safe", "active"),
        ("https://www.bing.com/search?q=owls", "adlt", "strict"),
        ("https://duckduckgo.com/?q=owls&kp=-2", "kp", "1"),
    ],
)
def test_safe_search_is_forced_at_the_request(addon, url, param, value):
    f = flow(url)
    addon.request(f)
    assert f.request.query.get_all(param) == [value]
    assert f.request.query["q"] == "owls"


def test_youtube_gets_the_restrict_header_at_the_childs_level(addon):
    f = flow("https://www.youtube.com/watch?v=abc")
    addon.request(f)
    assert f.request.headers["YouTube-Restrict"] == "Strict"  # Sam is 11


class HouseDns:
    """Stands in for HouseRules' DNS in these hook-level tests (tests/test_proxy_e2e.py asks
    the real one): records what was asked, answers from a table or refuses."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers, self.asked = answers, []

    async def __call__(self, server: tuple[str, int], name: str) -> str:
        self.asked.append((server, name))
        if name not in self.answers:
            raise resolver.NotResolved(f"HouseRules' DNS answered NXDOMAIN for {name}")
        return self.answers[name]


def connect(addon, host: str, ip: str = SAM_TABLET, port: int = 443):
    server = tflow.tserver_conn()
    server.address, server.sni = (host, port), None
    data = server_hooks.ServerConnectionHookData(server=server, client=client(ip))
    asyncio.run(addon.server_connect(data))
    return data.server


@pytest.fixture
def house_dns(addon):
    dns = HouseDns(
        {
            "forcesafesearch.google.com": "216.239.38.120",
            "www.bbc.co.uk": "203.0.113.80",
            "router.example": "192.168.1.2",  # points at the box itself
        }
    )
    addon._resolve = dns
    return dns


def test_the_connection_goes_to_the_safe_host_as_the_dns_would_answer(addon, house_dns):
    server = connect(addon, "www.google.com")
    assert server.address == ("216.239.38.120", 443) and not server.error
    assert server.sni == "forcesafesearch.google.com"
    assert house_dns.asked == [(("127.0.0.1", 5353), "forcesafesearch.google.com")]
    other = connect(addon, "www.bbc.co.uk")
    assert other.address == ("203.0.113.80", 443) and other.sni == "www.bbc.co.uk"


def test_a_name_the_house_dns_will_not_answer_is_not_connected_to(addon, house_dns):
    server = connect(addon, "nowhere.example")
    assert "NXDOMAIN" in server.error and server.address == ("nowhere.example", 443)


def test_a_name_that_points_at_the_box_is_not_connected_to(addon, house_dns):
    assert "on the HouseRules box itself" in connect(addon, "router.example").error


def test_a_device_not_marked_is_never_connected(addon, house_dns):
    assert "not set up to use the house proxy" in connect(addon, "www.bbc.co.uk", SAM_PHONE).error
    assert house_dns.asked == []


# -- searches ---------------------------------------------------------------------------------


def test_a_search_is_recorded_once_with_its_words(addon, parts):
    for url in [
        "https://www.google.com/search?q=volcano+facts",
        "https://www.google.com/search?q=volcano+facts&start=10",  # page 2: the same search
        "https://www.google.com/complete/search?q=volc",  # suggestions: not a search
    ]:
        addon.request(flow(url))
    searches = [r for r in parts.rows if r[5] == "SEARCH"]
    assert [(r[3], r[4], r[7], r[8]) for r in searches] == [
        ("Sam", "www.google.com", "search:google", 'Searched Google Search for "volcano facts"')
    ]
    assert parts.recorder.events == []


def test_a_worrying_search_raises_an_alert_with_the_prompt_and_the_help(addon, parts):
    addon.request(flow("https://www.bing.com/search?q=how+to+hide+self+harm"))
    (item,) = parts.recorder.events
    e = item.event
    assert (e.kind, e.severity, e.child, e.device) == (
        EventKind.CONCERNING_SEARCH, Severity.URGENT, "Sam", SAM_TABLET,
    )  # fmt: skip
    assert e.details["terms"] == "how to hide self harm" and e.details["concern"] == "self-harm"
    assert e.details["prompt"]["id"] == "search-something-on-your-mind"
    assert any(r["phone"] == "0800 1111" for r in e.details["routes"])


def test_adults_searches_are_not_recorded(addon, parts):
    addon.request(flow("https://www.google.com/search?q=kill+myself", PARENT))
    assert not [r for r in parts.rows if r[5] == "SEARCH"] and parts.recorder.events == []


def test_searches_are_not_recorded_when_switched_off():
    parts = make_runtime(record_searches=False)
    addon = HouseRules(parts.runtime, clock=lambda: NOON)
    with taddons.context(addon):
        addon.request(flow("https://www.google.com/search?q=kill+myself"))
    assert not [r for r in parts.rows if r[5] == "SEARCH"] and parts.recorder.events == []


# -- new contacts -----------------------------------------------------------------------------


def test_a_friend_request_response_becomes_a_sighting_and_passes_untouched(addon, parts):
    f = flow(FRIEND_REQUESTS, response=json_body(REQUEST_BODY))
    body = f.response.content
    addon.response(f)
    assert f.response.content == body
    (s,) = parts.recorder.sightings
    assert (s.child, s.device, s.service, s.listing) == ("Sam", SAM_TABLET, "roblox", None)
    (c,) = s.contacts
    assert (c.account, c.kind, c.handle) == ("987", ContactKind.FRIEND_REQUEST, "cool_builder_77")


def test_a_friends_list_counts_only_when_it_is_the_signed_in_accounts_own(addon, parts):
    friends = {"data": [{"id": 111, "name": "jo", "displayName": "Jo"}]}
    mine = "https://friends.roblox.com/v1/users/555/friends"
    addon.response(flow(mine, response=json_body(friends)))  # whose? not known yet
    me = {"id": 555, "name": "sam_plays", "displayName": "Sam"}
    addon.response(flow("https://users.roblox.com/v1/users/authenticated", response=json_body(me)))
    addon.response(
        flow("https://friends.roblox.com/v1/users/777/friends", response=json_body(friends))
    )
    addon.response(flow(mine, response=json_body(friends)))
    (s,) = parts.recorder.sightings
    assert s.listing == "roblox:friends" and s.contacts[0].account == "111"
    assert addon.counts["contact lists of other accounts skipped"] == 2


def test_discords_dm_list_becomes_a_sighting(addon, parts):
    channels = [{"id": "11", "type": 1, "recipients": [{"id": "803", "username": "nelly"}]}]
    addon.response(
        flow("https://discord.com/api/v9/users/@me/channels", response=json_body(channels))
    )
    (s,) = parts.recorder.sightings
    assert s.service == "discord" and s.listing == "discord:channels"


@pytest.mark.parametrize(
    "body",
    [b"<html>oops</html>", json_body(REQUEST_BODY)[:50], json_body({"changed": True})],
)
def test_a_response_it_cannot_read_is_skipped_counted_and_untouched(addon, parts, body):
    f = flow(FRIEND_REQUESTS, response=body)
    addon.response(f)
    assert f.response.content == body and parts.recorder.sightings == []
    assert addon.counts["unparseable roblox responses"] == 1


def test_a_huge_response_is_never_read(addon, parts):
    huge = json_body({"data": [{"id": i, "name": f"u{i}"} for i in range(200_000)]})
    assert len(huge) > parts.runtime.max_body
    f = flow(FRIEND_REQUESTS, response=huge)
    addon.response(f)
    assert parts.recorder.sightings == [] and addon.counts["responses skipped: too big"] == 1


def test_a_body_that_cannot_be_decoded_is_skipped(addon, parts):
    f = flow(FRIEND_REQUESTS, response=b"")
    f.response.headers["content-encoding"] = "gzip"
    f.response.raw_content = b"not gzip at all"
    addon.response(f)
    assert parts.recorder.sightings == []
    assert addon.counts["responses skipped: cannot decode"] == 1


@pytest.mark.parametrize(("ip", "status"), [(SAM_PHONE, 200), (PARENT, 200), (SAM_TABLET, 401)])
def test_no_contacts_from_devices_not_marked_adults_or_errors(addon, parts, ip, status):
    addon.response(flow(FRIEND_REQUESTS, ip, response=json_body(REQUEST_BODY), status=status))
    assert parts.recorder.sightings == []


# -- video chat -------------------------------------------------------------------------------


def websocket(host: str, ip: str = SAM_TABLET) -> http.HTTPFlow:
    f = tflow.twebsocketflow()
    f.client_conn = client(ip)
    f.request.host = host
    f.request.headers["host"] = host
    return f


def test_signalling_to_a_video_chat_service_keeps_a_session_going(addon, parts):
    f = websocket("teams.microsoft.com")
    addon.websocket_start(f)
    addon.websocket_message(f)  # within the minute: no second row
    (row,) = parts.rows
    assert row[4:7] == ("teams.microsoft.com", "WS", "allow") and row[10] == "microsoft-teams"


def test_a_chat_apps_websocket_is_not_a_video_call(addon, parts):
    addon.websocket_start(websocket("gateway.discord.gg"))
    addon.websocket_start(websocket("teams.microsoft.com", SAM_PHONE))
    assert parts.rows == []


def test_discords_call_servers_are_a_call(addon, parts):
    addon.websocket_start(websocket("london1234.discord.media"))
    assert [r[5] for r in parts.rows] == ["WS"]


# -- never breaking a child's app -------------------------------------------------------------


def test_a_failure_inside_a_hook_is_counted_and_the_flow_carries_on(addon, monkeypatch):
    def broken(*args):
        raise RuntimeError("no decision")

    monkeypatch.setattr(addon, "_decide", broken)
    f = flow("http://blocked.test/")
    addon.request(f)  # admitted (the gate worked), then the rules failed
    assert f.response is None  # the request goes on as it came
    assert addon.counts["house_rules failed"] == 1


def test_without_a_policy_nothing_is_carried_and_tls_is_not_opened(parts):
    class Broken:
        @property
        def current(self):
            raise RuntimeError("no policy")

    parts.runtime.keeper = Broken()
    addon = HouseRules(parts.runtime, clock=lambda: NOON)
    with taddons.context(addon):
        f = flow("http://blocked.test/")
        addon.request(f)
        data = client_hello("www.tiktok.com")
        addon.tls_clienthello(data)
    assert f.response.status_code == 403  # who may connect is never guessed: refused
    assert data.ignore_connection  # in doubt, TLS is not opened
    assert addon.counts["tls_clienthello failed"] == 1


def test_a_flow_answered_already_is_left_alone(addon, parts):
    f = flow("http://mitm.it/cert/pem", response=b"certificate")
    addon.request(f)
    assert f.response.content == b"certificate" and parts.rows == []


def test_a_config_it_cannot_use_stops_mitmproxy_with_the_reason(tmp_path):
    bad = tmp_path / "config.toml"
    bad.write_text('[proxy]\nmode = "transparent"\n')
    addon = HouseRules()
    with (
        taddons.context(addon) as tctx,
        pytest.raises(exceptions.OptionsError, match="proxy.mode"),
    ):
        tctx.configure(addon, houserules_config=str(bad))
