"""The digest as data: what goes in (a child's week) and what comes out (sections of lines).

`build` turns the first into the second; `render_text` and `render_html` draw the second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from agent.events import Event
from agent.store.rollups import WeekSummary


@dataclass(frozen=True)
class Request:
    """Something the child asked for from the block page or the dashboard."""

    time: datetime  # local
    kind: str  # "more_time" | "unblock"
    status: str  # "pending" | "approved" | "declined"
    app: str | None = None  # catalogue app id
    site: str | None = None
    minutes: int | None = None
    message: str = ""


@dataclass(frozen=True)
class BudgetWeek:
    """How one daily budget went over the week."""

    title: str  # "Gaming", "YouTube", "Online time"
    allowance: str  # "hour", "2 hours", "30 minutes": the school-day value, in words
    full_days: int  # days the whole allowance was used
    days: int  # days with a budget (an allowance above 0)
    asked: int  # requests for more time that week
    yes: int  # ... that a parent said yes to


@dataclass(frozen=True)
class ChildWeek:
    """Everything the digest says about one child, as read from the store."""

    name: str
    age: int | None
    summary: WeekSummary
    events: tuple[Event, ...]  # the week's events, times in local time
    requests: tuple[Request, ...] | None = None  # None: requests are not recorded on this box
    devices: dict[str, str] | None = None  # device key (MAC or IP) -> its name
    budgets: tuple[BudgetWeek, ...] = ()


@dataclass(frozen=True)
class Period:
    """The week a digest covers: events from `start` to `due`, activity on 7 whole days."""

    start: datetime  # local
    due: datetime  # local: when the digest is due
    first_day: date
    last_day: date
    week: str  # ISO week of the due date, "2026-W47": one digest per carer per week

    @property
    def label(self) -> str:
        a, b = self.first_day, self.last_day
        if a.month == b.month:
            return f"{a.day}–{b.day} {b:%B %Y}"
        return f"{a.day} {a:%B} – {b.day} {b:%B %Y}" if a.year == b.year else f"{a} – {b}"


@dataclass(frozen=True)
class Bar:
    label: str
    minutes: int
    value: str  # "1 h 20 min"


@dataclass(frozen=True)
class Item:
    """One line in a list; `warn` draws a carer's eye to it, `note` is a quieter second part."""

    text: str
    note: str = ""
    warn: bool = False


@dataclass(frozen=True)
class Starter:
    opener: str
    why: str
    follow_up: str
    step: str
    sources: tuple[str, ...]  # citations: who sent the letter, when, and its file name


@dataclass(frozen=True)
class ChildSection:
    name: str
    age: int | None
    headline: str
    quiet_line: str | None  # set on a quiet week: the section is this line and the starters
    days: tuple[Bar, ...]
    apps: tuple[Bar, ...]
    sites: str
    lists: tuple[tuple[str, tuple[Item, ...]], ...]  # (heading, items), empty ones left out
    starters: tuple[Starter, ...]
    alerts: int
    unacknowledged: int


@dataclass(frozen=True)
class Digest:
    carer: str
    subject: str
    intro: str
    period: Period
    sections: tuple[ChildSection, ...]
    dashboard_url: str
    footer: str
