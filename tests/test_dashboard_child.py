"""A child's page: rules that reach the rules engine, schedules, settings, activity, events."""

from __future__ import annotations

from datetime import date, time

import pytest

from agent.events import Event, EventKind, Severity
from agent.rules.decision import RuleKind, RuleRef
from agent.store import household as store
from agent.store.events import record_events

TABLET = "192.168.1.20"


@pytest.fixture
def sam(engine):
    child = store.add_child(engine, "Sam", date(2015, 3, 1))  # 11 on the test's date
    store.add_device(engine, ip=TABLET, name="Sam's tablet", owner="child", child_id=child.id)
    return child


def category_form(page: str, category: str) -> dict[str, str]:
    """The radios of one category's form as they are checked on the page."""
    import re

    start = page.index(f'<details id="cat-{category}"')
    section = page[start : page.index("</details>", start)]
    checked = re.findall(r'name="([^"]+)" value="([^"]+)" checked', section)
    return {"category": category, **dict(checked)}


def test_adding_a_child(auth, engine):
    auth.login()
    response = auth.post("/children/new", {"name": "Sam", "born": "2015-03-01"})
    assert response.status_code == 302
    (sam,) = store.list_children(engine)
    assert response.location == f"/child/{sam.id}"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "", "born": "2015-03-01"}, "This field is required"),
        ({"name": "Sam", "born": ""}, "Give a date of birth"),
        ({"name": "Sam", "born": "2031-01-01"}, "not a possible date of birth"),
        ({"name": "Sam", "born": "1900-01-01"}, "makes them 126: the under-18 protections"),
        ({"name": "A, B", "born": "2015-03-01"}, "no commas"),
    ],
)
def test_adding_a_child_shows_mistakes_in_the_form(auth, form, message):
    auth.login()
    response = auth.post("/children/new", form)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_the_page_shows_the_age_preset_and_every_app_with_its_age_and_flags(auth, sam):
    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "What age 11 means" in page
    assert "TikTok" in page and "13+" in page and "chat with strangers" in page
    assert "Blocked: TikTok is for 13+, Sam is 11" in page
    # No list compiled on this box yet: the page must not claim adult sites are blocked.
    assert "adult: not blocked yet, the list has not downloaded" in page
    assert "gambling: not blocked yet, the list has not downloaded" in page
    assert "dating (3 apps)" in page  # the app catalogue's dating apps are blocked all the same
    assert "YouTube restricted mode: strict" in page
    assert 'id="cat-gaming"' in page and 'name="app:roblox" value="default" checked' in page


def test_the_page_says_how_many_sites_each_loaded_list_blocks(app, auth, sam):
    from agent.lists.compile import compile_index
    from dashboard.box import box as current_box

    with app.test_request_context():
        cfg = current_box().cfg
        cat = current_box().catalog
    compile_index(cfg, cat.index_entries(), cat.fingerprint)  # the shipped lists, as at init
    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "adult (91 sites; the lists that come with HouseRules)" in page
    assert "not blocked yet" not in page


def test_blocking_an_app_reaches_the_rules_engine(auth, engine, sam, clock, verdict):
    auth.login()
    assert not verdict(TABLET, "roblox.com", clock()).blocked
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    form = category_form(page, "gaming") | {"app:roblox": "block"}
    response = auth.post(f"/child/{sam.id}/apps", form)
    assert response.status_code == 302 and response.location.endswith("#cat-gaming")
    decision = verdict(TABLET, "roblox.com", clock())
    assert decision.blocked and decision.rule == RuleRef(RuleKind.BLOCK_APP, "roblox")
    assert not verdict(TABLET, "minecraft.net", clock()).blocked  # the others as they were
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert 'name="app:roblox" value="block" checked' in page
    # Back to the age default: the rule goes.
    auth.post(f"/child/{sam.id}/apps", category_form(page, "gaming") | {"app:roblox": "default"})
    assert store.list_rules(engine, sam.id) == ()


def test_allowing_an_app_above_the_childs_age(auth, engine, sam, clock, verdict):
    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    auth.post(f"/child/{sam.id}/apps", category_form(page, "social") | {"app:tiktok": "allow"})
    assert verdict(TABLET, "tiktok.com", clock()).rule == RuleRef(RuleKind.ALLOW_APP, "tiktok")


def test_blocking_a_whole_category(auth, engine, sam, clock, verdict):
    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    auth.post(f"/child/{sam.id}/apps", category_form(page, "gaming") | {"category_rule": "block"})
    assert verdict(TABLET, "minecraft.net", clock()).rule == RuleRef(
        RuleKind.BLOCK_CATEGORY, "gaming"
    )


def test_a_made_up_category_or_choice_is_refused(auth, sam):
    auth.login()
    assert auth.post(f"/child/{sam.id}/apps", {"category": "cheese"}).status_code == 400
    bad = {"category": "gaming", "app:roblox": "maybe"}
    assert auth.post(f"/child/{sam.id}/apps", bad).status_code == 400


def test_safe_search_and_youtube_settings(auth, engine, sam):
    auth.login()
    response = auth.post(
        f"/child/{sam.id}/settings", {"youtube_level": "moderate", "protections_on": "y"}
    )
    assert response.status_code == 302
    child = store.get_child_by_name(engine, "Sam")
    assert child.settings.youtube_level == "moderate"
    assert child.settings.safe_search is False and child.settings.protections_on is True
    bad = auth.post(f"/child/{sam.id}/settings", {"youtube_level": "loud"})
    assert bad.status_code == 400 and "Not a valid choice" in bad.get_data(as_text=True)


def test_website_rules_and_their_mistakes(auth, engine, sam, clock, verdict):
    auth.login()
    auth.post(f"/child/{sam.id}/domains", {"domain": "Example.com", "verb": "block"})
    assert verdict(TABLET, "www.example.com", clock()).rule == RuleRef(
        RuleKind.BLOCK_DOMAIN, "example.com"
    )
    bad = auth.post(f"/child/{sam.id}/domains", {"domain": "not a site", "verb": "block"})
    assert bad.status_code == 400 and "is not a domain like example.com" in bad.get_data(
        as_text=True
    )
    (rule,) = store.list_rules(engine, sam.id)
    auth.post(f"/child/{sam.id}/rules/{rule.id}/remove")
    assert store.list_rules(engine, sam.id) == ()
    assert auth.post(f"/child/{sam.id}/rules/999/remove").status_code == 404


def test_an_overnight_schedule_and_a_second_window(auth, engine, sam, clock, verdict):
    auth.login()
    bedtime = {"name": "Bedtime", "days": ["0", "1", "2", "3", "6"], "start": "17:30"}
    bedtime |= {"end": "07:00", "scope": "all"}
    assert auth.post(f"/child/{sam.id}/schedules", bedtime).status_code == 302
    school = {"name": "School", "days": ["0", "1", "2", "3", "4"], "start": "09:00"}
    school |= {"end": "15:00", "scope": "some", "block": ["gaming", "video"], "allow": "bbc.co.uk"}
    assert auth.post(f"/child/{sam.id}/schedules", school).status_code == 302
    names = sorted(s.name for s in store.list_schedules(engine, sam.id))
    assert names == ["Bedtime", "School"]
    assert verdict(TABLET, "example.com", clock()).rule == RuleRef(RuleKind.SCHEDULE, "Bedtime")
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "17:30 to 07:00 the next day, 13 hours 30 minutes" in page
    assert "gaming, video off" in page
    bed = next(s for s in store.list_schedules(engine, sam.id) if s.name == "Bedtime")
    auth.post(f"/child/{sam.id}/schedules/{bed.id}/remove")
    assert not verdict(TABLET, "example.com", clock()).blocked


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"days": []}, "Pick at least one day"),
        ({"start": ""}, "Give a start time"),
        ({"scope": "some"}, "Tick at least one category"),
        ({"allow": "not a site!"}, "is not a domain"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_schedule_mistakes_show_in_the_form(auth, sam, changes, message):
    auth.login()
    form = {"name": "Bedtime", "days": ["0"], "start": "20:00", "end": "07:00", "scope": "all"}
    response = auth.post(f"/child/{sam.id}/schedules", form | changes)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_a_second_schedule_with_the_same_name(auth, engine, sam):
    auth.login()
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(20), time(7), block_all=True)
    form = {"name": "bedtime", "days": ["0"], "start": "20:00", "end": "07:00", "scope": "all"}
    response = auth.post(f"/child/{sam.id}/schedules", form)
    assert response.status_code == 400
    assert "already has a schedule called Bedtime" in response.get_data(as_text=True)


def test_activity_charts_and_what_happened(auth, engine, sam, clock, add_activity):
    auth.login()
    today = clock().date()
    add_activity("Sam", today, {"roblox": (16, 40)})
    add_activity("Sam", date(2026, 11, 16), {"minecraft": (19, 25)})
    record_events(
        engine,
        [
            Event(
                clock(),
                EventKind.FIRST_APP,
                Severity.NOTICE,
                "Sam",
                TABLET,
                "discord",
                {"app_name": "Discord", "flags": ["chat_with_strangers"]},
            ),
            Event(
                clock(),
                EventKind.VIDEO_CHAT,
                Severity.NOTICE,
                "Sam",
                TABLET,
                "zoom",
                {
                    "app_name": "Zoom",
                    "start": clock().isoformat(),
                    "end": clock().isoformat(),
                    "minutes": 12,
                },
            ),
        ],
    )
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert page.count('<svg class="chart"') == 3
    assert "Sam: active minutes, last 7 days" in page and "1 h 5 min in all" in page
    assert "Wed 18 Nov: 40 min" in page  # a bar's own title
    assert "Roblox" in page and "Minecraft" in page  # most used this week
    assert "Sam used Discord for the first time (Sam&#39;s tablet, 18:00)" in page
    assert "was on a video call on Zoom" in page
    assert "TikTok: under the app&#39;s minimum age: <strong>6</strong>" in page  # blocked, why


def test_the_people_a_child_is_in_touch_with_newest_first(auth, engine, sam, clock):
    from datetime import timedelta

    from agent.proxy.contacts import Contact, ContactKind
    from agent.store.contacts import record_contacts

    auth.login()
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "People they're in touch with" in page
    assert "Nobody yet." in page and "only on the services HouseRules knows" in page
    jo = Contact("roblox", "111", ContactKind.FRIEND, "classmate_jo", "Jo")
    kit = Contact("discord", "803", ContactKind.FRIEND_REQUEST, "kit_k", None)
    record_contacts(engine, "Sam", [jo], clock() - timedelta(days=2), TABLET)
    record_contacts(engine, "Sam", [kit], clock() - timedelta(hours=1), TABLET)
    other = Contact("roblox", "999", ContactKind.DM, "someone_else", None)
    record_contacts(engine, "Alex", [other], clock())
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    section = page[page.index('<section id="contacts"') :]
    section = section[: section.index("</section>")]
    assert "Nobody yet." not in section
    newest = "<strong>kit_k</strong> on Discord: a friend request."
    older = "<strong>Jo (@classmate_jo)</strong> on Roblox: a friend."
    assert newest in section and older in section
    assert section.index(newest) < section.index(older)
    assert "Wed 18 Nov 17:00" in section and "Mon 16 Nov 18:00" in section
    assert "someone_else" not in page  # another child's contact
    assert 'href="/help/block-and-report"' in section


def test_an_unknown_child_is_not_found(auth):
    auth.login()
    assert auth.client.get("/child/42").status_code == 404


def test_most_used_lists_only_apps_with_minutes(auth, engine, sam, clock, add_activity):
    auth.login()
    from agent.store import insight_state, rollup_writes

    add_activity("Sam", clock().date(), {"roblox": (16, 40)})
    with insight_state.immediate(engine) as conn:  # TikTok: 27 lookups, all blocked, no minutes
        day = clock().date().isoformat()
        rollup_writes.add_usage(conn, {("Sam", day, 17, "app", "tiktok"): [0, 27, 27]})
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    used = page[page.index("Most used this week") : page.index('id="happened"')]
    assert "Roblox" in used and "TikTok" not in used and ">0 min<" not in used


def test_removing_a_child_asks_first_and_says_what_goes(auth, engine, sam, clock, verdict):
    auth.login()
    store.add_schedule(engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True)
    page = auth.client.get(f"/child/{sam.id}/remove").get_data(as_text=True)
    assert "Remove Sam?" in page and "1 schedule (Bedtime)" in page
    assert "Sam&#39;s tablet" in page and "unassigned" in page
    forged = auth.client.post(f"/child/{sam.id}/remove", data={})  # no CSRF token
    assert forged.status_code == 400 and store.list_children(engine) == (sam,)
    done = auth.post(f"/child/{sam.id}/remove", {}, page=f"/child/{sam.id}/remove")
    assert done.status_code == 302 and store.list_children(engine) == ()
    assert store.list_schedules(engine) == ()
    (tablet,) = store.list_devices(engine)
    assert tablet.owner == "unassigned"
    assert auth.client.get(f"/child/{sam.id}").status_code == 404


def test_correcting_a_name_and_birth_date(auth, engine, sam):
    auth.login()
    about = f"/child/{sam.id}/about"
    page = auth.post(about, {"name": "Samuel", "born": "1990-01-01"}, page=about)
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "under-18 protections would stop" in text and "Yes, this date is right" in text
    assert store.list_children(engine) == (sam,)
    ok = auth.post(about, {"name": "Samuel", "born": "2014-02-03"}, page=about)
    assert ok.status_code == 302
    (samuel,) = store.list_children(engine)
    assert (samuel.name, samuel.born) == ("Samuel", date(2014, 2, 3))


def test_editing_a_schedule_and_saying_all_day(auth, engine, sam):
    auth.login()
    bedtime = store.add_schedule(
        engine, sam.id, "Bedtime", range(7), time(21), time(7), block_all=True
    )  # noqa: E501
    edit = f"/child/{sam.id}/schedules/{bedtime.id}/edit"
    page = auth.client.get(edit).get_data(as_text=True)
    assert 'value="21:00"' in page and 'value="07:00"' in page
    same = {"name": "Bedtime", "days": ["5", "6"], "start": "19:00", "end": "19:00", "scope": "all"}
    refused = auth.post(edit, same, page=edit)
    assert refused.status_code == 400 and "would be on all day" in refused.get_data(as_text=True)
    assert auth.post(edit, same | {"all_day": "y"}, page=edit).status_code == 302
    (weekend,) = store.list_schedules(engine, sam.id)
    assert weekend.id == bedtime.id and weekend.days == {5, 6} and weekend.start == weekend.end
    page = auth.client.get(f"/child/{sam.id}").get_data(as_text=True)
    assert "<strong>Bedtime</strong>: weekends, all day: the whole internet is off" in page


def test_a_saved_schedule_says_in_words_what_it_will_do(auth, sam):
    auth.login()
    bedtime = {"name": "Bedtime", "days": [str(d) for d in range(7)], "start": "19:00"}
    bedtime |= {"end": "07:00", "scope": "all"}
    saved = auth.post(f"/child/{sam.id}/schedules", bedtime)
    page = auth.client.get(saved.location).get_data(as_text=True)
    assert "Saved Bedtime: every day, 19:00 to 07:00 the next day, 12 hours." in page
