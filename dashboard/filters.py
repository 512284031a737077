"""Template filters: times in the box's zone, durations and ages in plain words."""

from __future__ import annotations

from datetime import datetime

from flask import Flask

from dashboard.box import box


def local(moment: datetime | None, fmt: str = "%a %d %b %H:%M") -> str:
    if moment is None:
        return "never"
    return moment.astimezone(box().tz).strftime(fmt)


def hhmm(moment: datetime | None) -> str:
    return local(moment, "%H:%M")


def ago(moment: datetime | None) -> str:
    """ "just now", "5 min ago", "3 h ago", "Tue 12 Nov"."""
    if moment is None:
        return "never"
    seconds = (box().now() - moment).total_seconds()
    if seconds < 90:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86_400:
        return f"{int(seconds // 3600)} h ago"
    return local(moment, "%a %d %b")


def duration(minutes: int | None) -> str:
    """85 -> "1 h 25 min"."""
    minutes = int(minutes or 0)
    if minutes < 60:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def label(word: str | None) -> str:
    """ "random-video-chat" -> "random video chat"."""
    return (word or "").replace("-", " ").replace("_", " ")


def register(app: Flask) -> None:
    for fn in (local, hhmm, ago, duration, label):
        app.add_template_filter(fn)
