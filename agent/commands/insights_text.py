"""How `houserules events` and `houserules summary` look: text for a parent, or JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from functools import cache
from typing import Any

from agent.events import Event
from agent.events.registry import describe
from agent.proxy.paths import shipped_names
from agent.rules.catalog import Catalog, CatalogError, load_catalog
from agent.rules.reasons import rule_label
from agent.store.events import event_json as stored_json
from agent.store.rollups import DaySummary, Usage, WeekSummary
from agent.store.rollups import summary_json as rollup_json

BAR = "#"


@cache
def _catalog() -> Catalog | None:
    try:
        return load_catalog()
    except CatalogError:
        return None


def app_name(app_id: str) -> str | None:
    catalog = _catalog()
    app = catalog.get(app_id) if catalog is not None else None
    return app.name if app is not None else None


def path_name(rule_id: str) -> str | None:
    return shipped_names().get(rule_id)


def event_json(event: Event, tz: tzinfo, devices: Mapping[str, str]) -> dict[str, Any]:
    data = stored_json(event)
    data["time"] = event.time.astimezone(tz).isoformat()
    data["device_name"] = devices.get(event.device or "")
    data["text"] = describe(event, tz, devices)
    return data


def print_events(
    events: list[Event], tz: tzinfo, devices: Mapping[str, str], child: str | None, start: datetime
) -> None:
    who = f" for {child}" if child else ""
    if not events:
        print(f"Nothing to report{who} since {start:%a %d %b %Y}.")
        return
    print(f"Events{who} since {start:%a %d %b %Y} (times in {tz}):")
    for e in events:
        moment = e.time.astimezone(tz)
        print(f"  {moment:%a %d %b %H:%M}  {str(e.severity):<6}  {describe(e, tz, devices)}")


def summary_json(summary: DaySummary | WeekSummary, tz: tzinfo) -> dict[str, Any]:
    data = rollup_json(summary, tz)
    for item in data["apps"]:
        item["app_name"] = app_name(item["name"])
    for item, counted in zip(data["blocked_by_reason"], summary.blocked_by_reason, strict=True):
        item["label"] = rule_label(counted.rule, app_name, path_name)
    data["estimate"] = "minutes are estimated from DNS lookups; see docs/activity-estimate.md"
    return data


def duration(minutes: int) -> str:
    hours, mins = divmod(minutes, 60)
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


def _usage_line(items: tuple[Usage, ...]) -> str:
    shown = [
        f"{(app_name(u.name) if u.kind == 'app' else None) or u.name} {duration(u.minutes)}"
        for u in items
        if u.minutes
    ]
    return ", ".join(shown) if shown else "none"


def print_summary(summary: DaySummary | WeekSummary, tz: tzinfo) -> None:
    if isinstance(summary, DaySummary):
        print(f"{summary.child}, {summary.day:%A %d %B %Y}")
        print(f"  Time online:  {duration(summary.minutes)} (an estimate from DNS lookups)")
        if summary.first_activity and summary.last_activity:
            first, last = (
                t.astimezone(tz) for t in (summary.first_activity, summary.last_activity)
            )
            print(f"  First, last:  {first:%H:%M}, {last:%H:%M}")
    else:
        iso = summary.monday.isocalendar()
        print(f"{summary.child}, week {iso.year}-W{iso.week:02d} (from {summary.monday:%a %d %b})")
        print(f"  Time online:  {duration(summary.minutes)} (an estimate){_trend(summary)}")
        days = ", ".join(f"{d.day:%a} {duration(d.minutes)}" for d in summary.days)
        print(f"  By day:       {days}")
    print(f"  Apps:         {_usage_line(summary.apps)}")
    print(f"  Sites:        {_usage_line(summary.sites)}")
    blocked = ", ".join(
        f"{rule_label(b.rule, app_name, path_name)} ({b.count})" for b in summary.blocked_by_reason
    )
    print(f"  Blocked:      {summary.blocked} lookups" + (f": {blocked}" if blocked else ""))
    _print_hours(summary.hours)


def _trend(week: WeekSummary) -> str:
    if not week.previous_week_minutes:
        return ""
    change = week.change_minutes
    if change == 0:
        return ", the same as the week before"
    return f", {duration(abs(change))} {'more' if change > 0 else 'less'} than the week before"


def _print_hours(hours: tuple[int, ...]) -> None:
    busiest = max(hours)
    if not busiest:
        return
    print("  By hour:")
    for hour, minutes in enumerate(hours):
        if minutes:
            bar = BAR * max(1, round(20 * minutes / busiest))
            print(f"    {hour:02d}:00  {bar} {duration(minutes)}")


def export_counts(data: Mapping[str, Any]) -> str:
    rollups = sum(len(rows) for rows in data["rollups"].values())
    return (
        f"{len(data['events'])} events, {rollups} summary rows, "
        f"{len(data['query_log'])} DNS lookups"
    )


def forget_message(child: str, removed: Mapping[str, int]) -> str:
    return (
        f"Deleted {child}'s history: {removed['query_log']} DNS lookups, {removed['events']} "
        f"events, {removed['activity']} activity rows. {child}'s house rules are unchanged."
    )
