"""The weekly digest's content: a carer's children's weeks in, sections of short lines out.

Pure: no database, no clock, no files; everything arrives as data, so a digest can be built for
any week in a test. Both renderers (`render_text`, `render_html`) draw the same `Digest`.

What makes a child's section, in order: time online and the change from the week before (a
chart by day), the most used apps, apps and sites used for the first time (each app with its
minimum age and what it allows), video calls, late-night use, blocked attempts that matter
(repeated tries at an app above the child's age, not the background lookups apps make on their
own), alerts and whether a parent has looked at them, what the child asked for, other things
worth knowing, and two or three conversation starters, each naming the letter it comes from.
A quiet week is one line, not a row of empty headings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo

from agent.digest.model import Bar, ChildSection, ChildWeek, Digest, Item, Period, Starter
from agent.digest.words import (
    FLAG_WORDS,
    Sayer,
    and_list,
    asked,
    budget_line,
    duration,
    event_request,
    first_upper,
)
from agent.events import Event, EventKind, Severity, registry
from agent.events.registry import Section
from agent.rules.catalog import Catalog
from agent.store.rollups import WeekSummary
from agent.talk.prompts import Library
from agent.talk.suggest import Suggestion, suggest

TOP_APPS = 5
TOP_SITES = 3
MAX_LINES = 5  # per list; the rest are counted, with a pointer to the dashboard
# Shown in their own lists (the registry says which), or nothing to do (Firefox's canary,
# Private Relay switched off).
_OWN_LISTS = frozenset(EventKind) - registry.in_section(Section.BY_SEVERITY)
_NOTHING_TO_DO = {"canary", "private-relay"}


def build_digest(
    carer: str,
    period: Period,
    weeks: Sequence[ChildWeek],
    *,
    library: Library,
    catalog: Catalog | None,
    tz: tzinfo,
    dashboard_url: str,
    schedule: str = "Sundays at 18:00",
) -> Digest:
    """The digest for one carer: a section per child, in the order given."""
    used: set[str] = set()  # prompts already offered in this digest
    sections = tuple(_section(w, period, library, catalog, tz, used) for w in weeks)
    names = and_list([w.name for w in weeks]) or "your household"
    alerts = sum(s.alerts for s in sections)
    quiet = all(s.quiet_line for s in sections)
    short = f"{period.first_day.day}–{period.last_day.day} {period.last_day:%b}"
    if period.first_day.month != period.last_day.month:
        short = f"{period.first_day:%d %b} – {period.last_day:%d %b}".lstrip("0")
    subject = f"HouseRules weekly: {'a quiet week for ' if quiet else ''}{names}, {short}"
    if alerts:
        subject += f" ({alerts} alert{'s' if alerts != 1 else ''})"
    intro = (
        f"Hello {carer}. Here is what mattered online for {names} this week "
        f"({period.label}), and a few things you could talk about."
    )
    footer = (
        f"You get this email {schedule} because you are a carer for {names} in HouseRules, "
        "the parental-control box at home. Times online are estimates from the home network. "
        "To change the day or stop these emails, ask whoever looks after the box."
    )
    return Digest(carer, subject, intro, period, sections, dashboard_url, footer)


# One child ---------------------------------------------------------------------------------


def _section(
    week: ChildWeek,
    period: Period,
    library: Library,
    catalog: Catalog | None,
    tz: tzinfo,
    used: set[str],
) -> ChildSection:
    s, events, name = week.summary, week.events, week.name
    say = Sayer(tz, week.devices or {}, catalog)
    alerts = sorted(  # urgent ones first, then in time order
        (e for e in events if e.severity.rank >= Severity.ALERT.rank and e.kind not in _OWN_LISTS),
        key=lambda e: -e.severity.rank,
    )
    lists = (
        ("New this week", _new_things(events, week.age, name, say)),
        ("Video calls", tuple(say.dated(e) for e in _listed_in(events, Section.VIDEO_CALLS))),
        ("Late at night", tuple(say.dated(e) for e in _listed_in(events, Section.LATE_NIGHT))),
        ("Blocked attempts", _blocked(events, say)),
        ("Alerts", tuple(_alert(e, say) for e in alerts)),
        ("Daily time budgets", tuple(Item(budget_line(b)) for b in week.budgets)),
        (f"{name} asked for", _requests(week, say)),
        ("Also worth knowing", _others(events, say)),
    )
    shown = tuple((head, _capped(items)) for head, items in lists if items)
    quiet_line = None
    if not shown:
        quiet_line = (
            f"A quiet week for {name}: nothing new, no alerts, nothing late at night."
            if s.minutes
            else f"A quiet week: HouseRules saw no activity from {name}'s devices."
        )
    return ChildSection(
        name=name,
        age=week.age,
        headline=_headline(s),
        quiet_line=quiet_line,
        days=tuple(Bar(f"{d.day:%a}", d.minutes, duration(d.minutes)) for d in s.days),
        apps=tuple(
            Bar(say.app_name(u.name), u.minutes, duration(u.minutes))
            for u in s.apps[:TOP_APPS]
            if u.minutes
        ),
        sites=", ".join(
            f"{u.name} {duration(u.minutes)}" for u in s.sites[:TOP_SITES] if u.minutes
        ),
        lists=shown,
        starters=_starters(week, period, library, catalog, quiet=quiet_line is not None, used=used),
        alerts=len(alerts),
        unacknowledged=sum(1 for e in alerts if not e.acknowledged),
    )


def _headline(s: WeekSummary) -> str:
    if not s.minutes and not s.previous_week_minutes:
        return "No time online recorded this week."
    text = f"About {duration(s.minutes)} online this week"
    if s.previous_week_minutes:
        change = s.change_minutes
        if change == 0:
            text += ", the same as the week before"
        else:
            more = "more" if change > 0 else "less"
            text += f", {duration(abs(change))} {more} than the week before"
    return text + " (an estimate)."


def _new_things(
    events: Sequence[Event], age: int | None, child: str, say: Sayer
) -> tuple[Item, ...]:
    out = []
    for e in _kind(events, EventKind.FIRST_APP):
        app = say.catalog.get(e.app) if say.catalog and e.app else None
        limit = app.minimum_age if app is not None else e.details.get("minimum_age")
        flags = sorted(app.flags if app is not None else e.details.get("flags") or ())
        parts = []
        above = bool(limit and age is not None and age < limit)
        if limit:
            parts.append(f"for {limit}+" + (f", {child} is {age}" if above else ""))
        allows = [FLAG_WORDS[f] for f in flags if f in FLAG_WORDS]
        if allows:
            parts.append("allows " + and_list(allows))
        risky = above or bool({"chat_with_strangers", "video_chat"} & set(flags))
        text = f"{say.app_name(e.app or '')} (app), first used {e.time:%a}"
        out.append(Item(text, first_upper("; ".join(parts)), risky))
    for e in _kind(events, EventKind.FIRST_SITE):
        site = e.details.get("site", "a website")
        out.append(Item(f"{site} (website), first visited {e.time:%a}"))
    return tuple(out)


def _blocked(events: Sequence[Event], say: Sayer) -> tuple[Item, ...]:
    """Repeated tries at an app above the child's age, one line per app. Counted in days (one
    event per app and day), never as lookups: an app asks many times each time it opens."""
    by_app: dict[str, list[Event]] = {}
    for e in _kind(events, EventKind.AGE_BLOCKED):
        by_app.setdefault(e.app or "?", []).append(e)
    out = []
    for app_id, found in by_app.items():
        limit = found[0].details.get("minimum_age")
        days = ", ".join(dict.fromkeys(f"{e.time:%a}" for e in found))
        n = len({f"{e.time:%F}" for e in found})
        what = say.app_name(app_id) + (f" (for {limit}+)" if limit else "")
        out.append(
            Item(
                f"{what}: blocked again and again on {n} day{'s' if n != 1 else ''} ({days})",
                "Blocked by its age limit. Counted in days, not lookups: an app asks many times "
                "each time it is opened.",
            )
        )
    return tuple(out)


def _alert(e: Event, say: Sayer) -> Item:
    seen = "A parent has looked at this." if e.acknowledged else "Not looked at yet."
    return Item(say.dated(e).text, seen, warn=not e.acknowledged)


def _requests(week: ChildWeek, say: Sayer) -> tuple[Item, ...]:
    if week.requests is not None:
        found = [(r.time, asked(r, say), r.status.capitalize()) for r in week.requests]
    else:  # no request store on this box: the requests are still in the events
        found = [
            (e.time, asked(event_request(e), say), "")
            for e in _kind(week.events, EventKind.CHILD_REQUEST)
        ]
    return tuple(Item(f"{when:%a %H:%M}: {words}", status) for when, words, status in found)


def _others(events: Sequence[Event], say: Sayer) -> tuple[Item, ...]:
    return tuple(
        say.dated(e)
        for e in events
        if e.severity == Severity.NOTICE
        and e.kind not in _OWN_LISTS
        and e.details.get("signal") not in _NOTHING_TO_DO
    )


def _starters(
    week: ChildWeek,
    period: Period,
    library: Library,
    catalog: Catalog | None,
    *,
    quiet: bool,
    used: set[str],
) -> tuple[Starter, ...]:
    """Two or three from the week's events (one on a quiet week); general prompts another
    child's section already offered are skipped, so two quiet children get different ones."""

    def lookup(app_id: str) -> tuple[str, frozenset[str]] | None:
        app = catalog.get(app_id) if catalog is not None else None
        return (app.category, app.flags) if app is not None else None

    picks = suggest(
        week.events, week.age, today=period.last_day, app_lookup=lookup, library=library, limit=8
    )
    picks = [p for p in picks if p.event is not None or p.prompt.id not in used]
    if quiet:
        picks = picks[:1]
    elif sum(1 for p in picks[:3] if p.event is not None) < 2:
        picks = picks[:2]
    used.update(p.prompt.id for p in picks[:3])
    app_name = Sayer(period.due.tzinfo, {}, catalog).app_name
    return tuple(_starter(p, library, app_name, quiet) for p in picks[:3])


def _starter(
    s: Suggestion, library: Library, app_name: Callable[[str], str], quiet: bool
) -> Starter:
    p = s.prompt
    cites = tuple(library.letters[f].citation for f in p.sources if f in library.letters)
    general = (
        "A quiet week: a good time for a general chat."
        if quiet
        else "Not about anything in particular this week: a good chat to have now and then."
    )
    why = s.why if s.event is not None else general
    if s.event is not None and s.event.app:  # the app's name, not its catalogue id
        why = why.replace(f"({s.event.app})", f"({app_name(s.event.app)})")
    return Starter(p.opener, why, p.follow_ups[0], p.step, cites)


# Words -------------------------------------------------------------------------------------


def _kind(events: Sequence[Event], kind: EventKind) -> list[Event]:
    return [e for e in events if e.kind == kind]


def _listed_in(events: Sequence[Event], section: Section) -> list[Event]:
    kinds = registry.in_section(section)
    return [e for e in events if e.kind in kinds]


def _capped(items: tuple[Item, ...]) -> tuple[Item, ...]:
    if len(items) <= MAX_LINES:
        return items
    more = len(items) - (MAX_LINES - 1)
    return (*items[: MAX_LINES - 1], Item(f"and {more} more: see the dashboard"))
