"""A schedule in words a parent reads: "every day, 19:00 to 07:00 the next morning, 12 hours"."""

from __future__ import annotations

from collections.abc import Iterable

from agent.rules.household import Schedule

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def days_words(days: Iterable[int]) -> str:
    chosen = frozenset(days)
    if chosen == frozenset(range(7)):
        return "every day"
    if chosen == frozenset(range(5)):
        return "weekdays"
    if chosen == frozenset({5, 6}):
        return "weekends"
    names = [DAY_NAMES[d] for d in sorted(chosen)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def length_minutes(s: Schedule) -> int:
    """How long one window lasts; start == end is the whole day (24 hours)."""
    minutes = (s.end.hour * 60 + s.end.minute) - (s.start.hour * 60 + s.start.minute)
    return minutes % (24 * 60) or 24 * 60


def length_words(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


def window_words(s: Schedule) -> str:
    """ "19:00 to 07:00 the next morning, 12 hours", or "all day"."""
    if s.start == s.end:
        return "all day"
    after_midnight = " the next day" if s.end < s.start else ""
    span = f"{s.start:%H:%M} to {s.end:%H:%M}{after_midnight}"
    return f"{span}, {length_words(length_minutes(s))}"


def schedule_words(s: Schedule) -> str:
    """ "every day, 19:00 to 07:00 the next day, 12 hours"; "weekends, all day"."""
    return f"{days_words(s.days)}, {window_words(s)}"
