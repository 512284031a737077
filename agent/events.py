"""The event model shared by insights, prompts, the dashboard and the digest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventKind(StrEnum):
    NEW_DEVICE = "new_device"
    FIRST_APP = "first_app"
    FIRST_SITE = "first_site"
    VIDEO_CHAT = "video_chat"
    RANDOM_VIDEO_CHAT = "random_video_chat"
    AGE_BLOCKED = "age_blocked"
    BYPASS_SUSPECTED = "bypass_suspected"
    LATE_NIGHT = "late_night"
    NEW_CONTACT = "new_contact"
    CONCERNING_SEARCH = "concerning_search"
    CHILD_REQUEST = "child_request"
    ADDRESS_FLOOD = "address_flood"  # many new addresses at once: likely forged
    ADDRESS_CLASH = "address_clash"  # something answering at a registered device's address


class Severity(StrEnum):
    INFO = "info"
    NOTICE = "notice"
    ALERT = "alert"

    @property
    def rank(self) -> int:
        return {"info": 0, "notice": 1, "alert": 2}[self.value]


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
