"""The words a parent reads for each decision: short, calm, and never blaming the child.

`agent.rules.decide` decides; this module only says it. Keeping every sentence here means the
wording can be reviewed (and one day translated) without reading the rules engine. `who` is
the child's name, or None when no child is set up yet (a child of unknown age under 13).
"""

from __future__ import annotations

from datetime import datetime, time

CANARY = "Firefox is told to use this network's DNS, so the house rules keep working"
ADULT = "Allowed: on an adult's device only the blocked-for-everyone rules apply"
BYPASS = "Blocked: this service can get around the house rules (VPN, proxy or private DNS)"
PRIVATE_RELAY = "iCloud Private Relay is off on this network so the house rules apply"


def label(category: str) -> str:
    """ "random-video-chat" -> "random video chat"."""
    return category.replace("-", " ")


def hhmm(moment: time) -> str:
    return f"{moment.hour:02d}:{moment.minute:02d}"


def everyone(category: str) -> str:
    return f"Blocked for everyone: {label(category)}"


def paused(until: datetime, now: datetime) -> str:
    local = until.astimezone(now.tzinfo)
    when = hhmm(local.time()) if local.date() == now.date() else f"{local:%a} {hhmm(local.time())}"
    return f"Paused by a parent until {when}"


def schedule_all(schedule: str, end: time) -> str:
    return f"{schedule}: the internet is off until {hhmm(end)}"


def schedule_off(schedule: str, what: str, end: time) -> str:
    return f"{schedule}: {what} is off until {hhmm(end)}"


def allowed(title: str, who: str | None) -> str:
    return f"Allowed for {who} by a house rule: {title}"


def blocked(title: str, who: str | None) -> str:
    return f"Blocked for {who} by a house rule: {title}"


def too_young(title: str, minimum_age: int, who: str | None, age: int) -> str:
    if who is None:
        return f"Blocked: {title} is for {minimum_age}+ (no child is set up yet, so under-13 rules)"
    return f"Blocked: {title} is for {minimum_age}+, {who} is {age}"


def listed(category: str, who: str | None) -> str:
    if category == "lists-rebuilding":  # agent.lists.index.REBUILDING
        return f"Blocked for {who or 'children'} for a few minutes, while the lists are rebuilt"
    return f"Blocked for {who or 'children'}: on the {label(category)} list"


def safe_search(who: str | None) -> str:
    return f"Safe search is on for {who or 'this device'}"


def no_safe_search(who: str | None) -> str:
    return f"Blocked for {who or 'this device'}: this search engine has no safe search"


def nothing_blocks(who: str | None) -> str:
    return f"Allowed: no house rule blocks this for {who or 'this device'}"
