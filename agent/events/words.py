"""One calm sentence or two per event, for a parent: what happened, and what to do if anything.

Each function here is named by its kind's entry in `agent.events.registry`.

Written to inform, never to accuse: a query is something a device did, often on its own, and
the next step is usually a conversation, not a punishment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo

from agent.events.model import Event

RISKY = {"chat_with_strangers": "chat with strangers", "video_chat": "video calls"}


Words = Callable[[Event, "Say"], str]
_BACKTICKS = re.compile(r"`([^`]+)`")


class Say:
    def __init__(self, event: Event, tz: tzinfo, devices: Mapping[str, str]) -> None:
        self.e, self.tz = event, tz
        self.device = devices.get(event.device or "", event.device or "a device")
        self.child = event.child or "A child"
        self.app = event.details.get("app_name") or event.app or "an app"

    def time(self, moment: datetime | str | None = None) -> str:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return (moment or self.e.time).astimezone(self.tz).strftime("%H:%M")


def new_device(e: Event, s: Say) -> str:
    address = e.details.get("mac") or e.details.get("ip") or e.device
    return (
        f"A new device joined the home network at {s.time()} ({address}). If it belongs to "
        "someone in the family, say whose it is on the Devices page so the right house rules "
        "apply."
    )


def first_app(e: Event, s: Say) -> str:
    text = f"{s.child} used {s.app} for the first time ({s.device}, {s.time()})."
    risky = [RISKY[f] for f in e.details.get("flags", ()) if f in RISKY]
    if risky:
        text += (
            f" {s.app} allows {' and '.join(risky)}: a good moment to ask what they like about it."
        )
    return text


def first_site(e: Event, s: Say) -> str:
    return f"{s.child} visited {e.details.get('site')} for the first time ({s.time()})."


def video_chat(e: Event, s: Say) -> str:
    d = e.details
    on = s.app if e.app else d.get("site") or "a website"
    span = f"{s.time(d.get('start'))} to {s.time(d.get('end'))}"
    return f"{s.child} was on a video call on {on} from {span} ({d.get('minutes')} minutes)."


def random_video_chat(e: Event, s: Say) -> str:
    outcome = "It was blocked." if e.details.get("blocked") else "It was not blocked."
    return (
        f"{s.device} looked up {s.app} at {s.time()}, a site that pairs people with "
        f"strangers on video. {outcome} Worth a calm chat with {s.child} about it; the "
        "dashboard's Help page has ideas."
    )


def age_blocked(e: Event, s: Say) -> str:
    limit = e.details.get("minimum_age")
    age = f" ({s.app} is for {limit} and over)" if limit else ""
    return (
        f"{s.app} was blocked several times in a few minutes on {s.device} at {s.time()}{age}. "
        f"{s.child} may be keen to use it: worth talking about."
    )


def bypass(e: Event, s: Say) -> str:
    d = e.details
    signal = d.get("signal")
    if signal == "canary":
        return (
            f"Firefox on {s.device} asked whether it may use its own DNS; HouseRules said no, "
            "so the house rules still apply. Nothing to do."
        )
    if signal == "private-relay":
        return (
            f"{s.device} has iCloud Private Relay switched on; HouseRules turned it off for the "
            "home network, as Apple allows. Nothing to do."
        )
    if signal == "silent":
        return (
            f"{s.device} is on the home network but has not used HouseRules since "
            f"{s.time(d.get('last_dns'))}. It may be idle, or set to use another DNS service "
            "(a VPN or a private DNS setting). Worth a look at its network settings."
        )
    what = "a VPN or proxy" if signal == "vpn-proxy" else "a private DNS service"
    outcome = "HouseRules blocked it." if d.get("blocked") else "It was not blocked."
    return (
        f"{s.device} looked up {what} ({d.get('name')}) at {s.time()}; using one would get "
        f"around the house rules. {outcome} Some apps do this on their own; if it keeps "
        f"happening, look at the device's VPN and DNS settings together with {s.child}."
    )


def late_night(e: Event, s: Say) -> str:
    d = e.details
    on = s.app if e.app else str(d.get("on", "")).partition(":")[2] or "the internet"
    blocked = " (blocked)" if d.get("blocked") else ""
    return (
        f"{s.device} was in use at {s.time()}, during {d.get('schedule')} "
        f"({d.get('window')}): {on}{blocked}."
    )


def new_contact(e: Event, s: Say) -> str:
    d = e.details
    service = d.get("service_name") or s.app
    kinds = {
        "friend": "a new friend",
        "friend_request": "a friend request from",
        "dm": "a new private chat with",
        "group": "a new group chat,",
    }
    what = kinds.get(str(d.get("kind")), "a new contact,")
    strangers = (
        f" {service} lets strangers chat, so it is worth asking who they are and how they met."
        if "chat_with_strangers" in (d.get("flags") or [])
        else ""
    )
    return f"{s.child} has {what} {d.get('contact') or 'someone'} on {service}.{strangers}"


def concerning_search(e: Event, s: Say) -> str:
    d = e.details
    topic = d.get("concern_title") or "a worrying subject"
    opener = (d.get("prompt") or {}).get("opener")
    talk = f" A way to start: \u201c{opener}\u201d" if opener else ""
    return (
        f"{s.child} searched for something about {topic.lower()} at {s.time()}. "
        f"Stay calm and check in gently; it is never their fault.{talk}"
    )


def child_request(e: Event, s: Say) -> str:
    d = e.details
    if d.get("site"):
        what = f"to unblock {d['site']}"
    elif e.app:
        what = f"to unblock {s.app}"
    elif d.get("minutes"):
        what = f"for {d['minutes']} more minutes"
    else:
        what = "for a change to the rules"
    said = f' They wrote: "{d["message"]}"' if d.get("message") else ""
    return f"{s.child} asked at {s.time()} {what}.{said} You can say yes or no on the dashboard."


def child_request_on_dashboard(e: Event, s: Say) -> str:
    """On the dashboard's alerts page, which is where the parent answers it."""
    d = e.details
    if d.get("request") == "more_time":
        minutes = f"{d['minutes']} more minutes" if d.get("minutes") else "more time"
        text = f"{s.child} asked for {minutes} at {s.time()}."
    else:
        what = (d.get("app_name") or e.app) if e.app else d.get("site") or "something"
        text = f"{s.child} asked you to unblock {what} at {s.time()}."
    if d.get("message"):
        text += f" They wrote: \u201c{d['message']}\u201d."
    return text + " Answer on Home."


def address_flood(e: Event, s: Say) -> str:
    many = e.details.get("skipped")
    count = f"{many} more than a home shows" if many else "more than a home shows"
    return (
        "Many new addresses appeared at once: something on the network may be forging them "
        f"({count} in a minute, from {s.time()}). Nothing needs doing in a hurry: those "
        "addresses get the rules for unknown devices, and HouseRules stopped listing them one "
        "by one. If it happens again, look at what is connected to the home network (a computer "
        "running an unusual program, or a gadget you do not recognise), restart the router, and "
        "change the Wi-Fi password if you cannot tell which device it is."
    )


def address_clash(e: Event, s: Say) -> str:
    d = e.details
    name = d.get("device_name") or "a registered device"
    seen = d.get("mac") or d.get("ip") or e.device
    where = d.get("ip")
    return (
        f"A device may be using {name}'s address: at {s.time()} something else ({seen}) "
        f"answered at {where}. Until you decide, it gets the rules for unknown devices. If it "
        f"is {name}, confirm its Wi-Fi address on the Devices page; if it is not, it is worth "
        "a calm word: anything can take an IP address."
    )


# Words for a carer's email, where they differ from the dashboard's -------------------------


def for_email(words: Words) -> Words:
    """The same words, with commands marked for a terminal (`houserules ...`) in quotes."""
    return lambda e, s: _BACKTICKS.sub(r'"\1"', words(e, s))


def duration(minutes: int) -> str:
    hours, mins = divmod(int(minutes), 60)
    if not hours:
        return f"{mins} min"
    return f"{hours} h {mins:02d} min" if mins else f"{hours} h"


def new_contact_email(e: Event, s: Say) -> str:
    d = e.details
    where = d.get("service_name") or e.app or "a messaging app"
    who = d.get("contact")
    text = f"{s.child} has a new contact on {where}" + (f": {who}." if who else ".")
    if d.get("stranger") and "chat_with_strangers" in (d.get("flags") or ()):
        text += " It is someone they had not talked to there before: worth asking who."
    return text


def child_request_email(e: Event, s: Say) -> str:
    d = e.details
    if d.get("request") == "more_time":
        minutes = d.get("minutes")
        asked = "more time" + (f" ({duration(int(minutes))})" if minutes else "")
    else:
        asked = f"{e.app or d.get('site') or 'a website'} to be unblocked"
    said = f': "{d["message"]}"' if d.get("message") else ""
    return f"{s.child} asked for {asked}{said}."


def concerning_search_email(e: Event, s: Say) -> str:
    d = e.details
    about = d.get("concern_title") or "something worrying"
    guide = d.get("guide") or {}
    text = f"A search on {s.child}'s device touched on {about[:1].lower()}{about[1:]}."
    if guide.get("title"):
        text += f' The guide "{guide["title"]}" on the dashboard\'s Help page helps.'
    return text


def device_flood(e: Event, s: Say) -> str:
    limit = e.details.get("limit")
    many = f"more than {limit:,} lookups a minute" if limit else "far more lookups than usual"
    return (
        f"{s.device} sent {many} at {s.time()}, far more than any app needs. HouseRules turned "
        "the extra ones away so the rest of the home kept working, and lets the device back in "
        "as soon as it slows down. It is usually an app or a program stuck in a loop: if it "
        "keeps happening, restart the device and look at what was installed on it recently."
    )
