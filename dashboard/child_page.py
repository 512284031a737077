"""What a child's page shows: rules, schedules, activity and what happened, as template data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from agent.events.registry import describe, on_child_page
from agent.lists import status as list_status
from agent.proxy.activity import SEARCH, read_search
from agent.proxy.concerns import ConcernList, load_concerns
from agent.proxy.paths import shipped_names
from agent.rules import overlays as overlay_words
from agent.rules.catalog import CATEGORIES
from agent.rules.decision import RuleKind
from agent.rules.household import Child, Household, RuleEntry
from agent.rules.reasons import rule_label
from agent.store.contacts import known_contacts
from agent.store.events import list_events
from agent.store.querylog import recent_of_type
from agent.store.rollups import activity_series, hour_profile, week_summary
from agent.talk import guides
from dashboard import applies, charts
from dashboard.box import Box
from dashboard.forms import DomainRuleForm, ScheduleForm, SettingsForm, options
from dashboard.proxy import contact_services

HAPPENINGS = on_child_page()
SEARCHES_SHOWN = 20  # the newest searches on a child's page
CONTACT_KINDS = {
    "friend": "a friend",
    "friend_request": "a friend request",
    "dm": "a private chat",
    "group": "a group chat",
}
CONTACT_GUIDES = ("block-and-report", "child-tells-you")  # help for a contact that worries you
EVIDENCE = {
    "official-page": "the app's own terms",
    "secondary-source": "a secondary source",
    "unverified-general-knowledge": "general knowledge, not yet checked",
}


@dataclass(frozen=True)
class CategoryGroup:
    name: str
    apps: list[applies.AppStatus]
    choice: str  # the parent's rule for the whole category: "allow", "block" or "default"

    @property
    def blocked(self) -> int:
        return sum(1 for s in self.apps if s.blocked)


def schedule_categories(b: Box) -> list[tuple[str, str]]:
    lists = {s.category for s in b.cfg.blocklists.sources} - {"bypass"}
    names = [*b.catalog.categories, *sorted(lists - set(CATEGORIES))]
    return [(n, n.replace("-", " ")) for n in names if n != "vpn-proxy"]


def forms_for(b: Box, child: Child) -> dict[str, Any]:
    settings = SettingsForm(
        data={
            "safe_search": child.settings.safe_search,
            "youtube_level": child.settings.youtube_level or "age",
            "protections_on": child.settings.protections_on,
        }
    )
    schedule = ScheduleForm()
    schedule.block.choices = options(schedule_categories(b))
    return {"settings_form": settings, "schedule_form": schedule, "domain_form": DomainRuleForm()}


def context(b: Box, household: Household, child: Child, now: datetime) -> dict[str, Any]:
    age = child.age_on(now.date())
    rules = [r for r in household.rules if r.child_id == child.id]
    statuses = applies.app_statuses(b, household, child, now)
    return {
        "child": child,
        "age": age,
        "now": applies.now_for(household, child, now),
        "overlays": running(b, household, child, now),
        "groups": _groups(b, statuses, rules),
        "preset": _preset(b, child, age, statuses),
        "domain_rules": [r for r in rules if r.kind == "domain"],
        "schedules": household.rules_for(child.id).schedules,
        "devices": [d for d in household.devices if d.child_id == child.id],
        "words": applies,
        "box": b,
        "clock": now,
        "flag_words": applies.FLAG_WORDS,
        "evidence": EVIDENCE,
        **_activity(b, household, child, now),
        **_contacts(b, child),
        **_searches(b, child),
    }


@dataclass(frozen=True)
class SearchSeen:
    """A search the proxy recorded, as the child's page lists it."""

    time: datetime
    engine: str
    terms: str
    worry: str | None  # the concern's title when the search is a worrying one


@lru_cache(maxsize=1)
def _concerns() -> ConcernList:
    return load_concerns()


def _searches(b: Box, child: Child) -> dict[str, Any]:
    """The newest searches recorded through the proxy, worrying ones marked."""
    rows = recent_of_type(b.engine(), child.name, SEARCH, SEARCHES_SHOWN)
    concerns, found = _concerns(), []
    for row in rows:
        search = read_search(row)
        if search is None:
            continue
        match = concerns.match(search.terms)
        worry = match.concern.title if match is not None else None
        when = datetime.fromtimestamp(row.ts, UTC)
        found.append(SearchSeen(when, search.engine_name, search.terms, worry))
    store = b.cfg.store
    return {
        "searches": found,
        "search_days": store.retention_days,
        "alert_days": store.history_days,
    }


@dataclass(frozen=True)
class Running:
    """A temporary change as the child's page shows it."""

    id: int
    words: str
    until: datetime
    left: str
    seconds: int


def running(b: Box, household: Household, child: Child, now: datetime) -> list[Running]:
    names = {s.id: s.name for s in household.schedules}
    apps = {a.id: a.name for a in b.catalog.apps.values()}
    return [
        Running(
            o.id,
            overlay_words.describe(o, names, apps),
            o.until,
            overlay_words.time_left(o.until, now),
            int((o.until - now).total_seconds()),
        )
        for o in overlay_words.active(household.rules_for(child.id).overlays, now)
    ]


def _groups(
    b: Box, statuses: list[applies.AppStatus], rules: list[RuleEntry]
) -> list[CategoryGroup]:
    chosen = {r.value: r.verb for r in rules if r.kind == "category"}
    by_category: dict[str, list[applies.AppStatus]] = {c: [] for c in b.catalog.categories}
    for s in statuses:
        by_category[s.app.category].append(s)
    return [
        CategoryGroup(name, apps, chosen.get(name, "default"))
        for name, apps in by_category.items()
        if apps
    ]


def _preset(b: Box, child: Child, age: int, statuses: list[applies.AppStatus]) -> dict[str, Any]:
    return {
        "by_age": [s.app.name for s in statuses if s.decision.rule.kind is RuleKind.AGE],
        "adult_categories": [
            s.words(b.now())
            for s in list_status.statuses(
                b.cfg, b.catalog, b.cfg.rules.under_18_block if age < applies.ADULT_AGE else ()
            )
        ],
        "youtube": applies.youtube_level(child, age),
        "safe_search": child.settings.safe_search,
        "protections": child.settings.protections_on,
    }


def _activity(b: Box, household: Household, child: Child, now: datetime) -> dict[str, Any]:
    engine, today = b.engine(), now.date()
    week_start, month_start = today - timedelta(days=6), today - timedelta(days=29)
    week = activity_series(engine, child.name, week_start, 7)
    month = activity_series(engine, child.name, month_start, 30)
    hours = hour_profile(engine, child.name, week_start, 7)
    summary = week_summary(engine, child.name, week_start)
    since = datetime.combine(month_start, datetime.min.time(), b.tz)
    events = [e for e in list_events(engine, child.name, since, limit=300) if e.kind in HAPPENINGS]
    names = {d.mac or d.ip or "": d.label for d in household.devices}
    return {
        "chart_week": charts.bars(
            [d.minutes for d in week],
            [f"{d.day:%a}" for d in week],
            f"{child.name}: active minutes, last 7 days",
            names=[f"{d.day:%a %d %b}" for d in week],
            highlight=6,
        ),
        "chart_month": charts.bars(
            [d.minutes for d in month],
            [f"{d.day:%d}" for d in month],
            f"{child.name}: active minutes, last 30 days",
            names=[f"{d.day:%a %d %b}" for d in month],
            highlight=29,
        ),
        "chart_hours": charts.bars(
            list(hours),
            [f"{h:02d}" for h in range(24)],
            f"{child.name}: active minutes by hour of day, last 7 days",
            names=[f"{h:02d}:00–{h:02d}:59" for h in range(24)],
        ),
        "week": summary,
        "firsts": [(e, describe(e, b.tz, names)) for e in events if e.kind != "video_chat"][:20],
        "calls": [(e, describe(e, b.tz, names)) for e in events if e.kind == "video_chat"][:20],
        "blocked": [
            (rule_label(x.rule, b.app_name, shipped_names().get), x.count)
            for x in summary.blocked_by_reason
        ],
    }


def _contacts(b: Box, child: Child) -> dict[str, Any]:
    """The people the proxy has seen the child in touch with, newest first."""
    topics = set(guides.topics())
    return {
        "contacts": known_contacts(b.engine(), child.name),
        "contact_kinds": CONTACT_KINDS,
        "contact_services": contact_services(b),
        "contact_guides": [guides.guide(t) for t in CONTACT_GUIDES if t in topics],
    }
