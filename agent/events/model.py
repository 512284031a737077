"""What happened, as data: an event's kind, severity, who and what it is about, and details.

The kinds, and everything about each (label, words, digest section, help, detail fields), are
in `agent.events.registry`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.events.registry import EventKind


class Severity(StrEnum):
    INFO = "info"
    NOTICE = "notice"
    ALERT = "alert"
    URGENT = "urgent"  # above an alert: a child may be at risk; emailed at once, top of Home

    @property
    def rank(self) -> int:
        return _RANKS[self.value]

    @classmethod
    def at_least(cls, lowest: Severity) -> tuple[Severity, ...]:
        """The severities from `lowest` up, lowest first (for "alerts and above" filters)."""
        return tuple(s for s in cls if s.rank >= lowest.rank)


_RANKS = {"info": 0, "notice": 1, "alert": 2, "urgent": 3}
ALERTING = Severity.at_least(Severity.ALERT)  # what alert emails and the alerts badge count


@dataclass(frozen=True)
class Event:
    time: datetime
    kind: EventKind
    severity: Severity
    child: str | None = None
    device: str | None = None
    app: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    acknowledged: bool = False
