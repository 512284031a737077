"""One calm sentence or two per event, for a parent: what happened, and what to do if anything.

Written to inform, never to accuse: a query is something a device did, often on its own, and
the next step is usually a conversation, not a punishment.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, tzinfo

from agent.events import Event, EventKind

RISKY = {"chat_with_strangers": "chat with strangers", "video_chat": "video calls"}


def describe(event: Event, tz: tzinfo, devices: Mapping[str, str] | None = None) -> str:
    """The event in a parent's words. `devices` maps device keys (MAC or IP) to names."""
    words = _WORDS.get(event.kind)
    if words is None:
        return f"{event.kind} for {event.child or 'the household'}."
    return words(event, _Say(event, tz, devices or {}))


class _Say:
    def __init__(self, event: Event, tz: tzinfo, devices: Mapping[str, str]) -> None:
        self.e, self.tz = event, tz
        self.device = devices.get(event.device or "", event.device or "a device")
        self.child = event.child or "A child"
        self.app = event.details.get("app_name") or event.app or "an app"

    def time(self, moment: datetime | str | None = None) -> str:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment)
        return (moment or self.e.time).astimezone(self.tz).strftime("%H:%M")


def _new_device(e: Event, s: _Say) -> str:
    address = e.details.get("mac") or e.details.get("ip") or e.device
    return (
        f"A new device joined the home network at {s.time()} ({address}). If it belongs to "
        "someone in the family, add it so the right house rules apply: houserules device add."
    )


def _first_app(e: Event, s: _Say) -> str:
    text = f"{s.child} used {s.app} for the first time ({s.device}, {s.time()})."
    risky = [RISKY[f] for f in e.details.get("flags", ()) if f in RISKY]
    if risky:
        text += (
            f" {s.app} allows {' and '.join(risky)}: a good moment to ask what they like about it."
        )
    return text


def _first_site(e: Event, s: _Say) -> str:
    return f"{s.child} visited {e.details.get('site')} for the first time ({s.time()})."


def _video_chat(e: Event, s: _Say) -> str:
    d = e.details
    on = s.app if e.app else d.get("site") or "a website"
    span = f"{s.time(d.get('start'))} to {s.time(d.get('end'))}"
    return f"{s.child} was on a video call on {on} from {span} ({d.get('minutes')} minutes)."


def _random_video_chat(e: Event, s: _Say) -> str:
    outcome = "It was blocked." if e.details.get("blocked") else "It was not blocked."
    return (
        f"{s.device} looked up {s.app} at {s.time()}, a site that pairs people with "
        f"strangers on video. {outcome} Worth a calm chat with {s.child} about it; "
        "`houserules help-guide` has ideas."
    )


def _age_blocked(e: Event, s: _Say) -> str:
    limit = e.details.get("minimum_age")
    age = f" ({s.app} is for {limit} and over)" if limit else ""
    return (
        f"{s.app} was blocked several times in a few minutes on {s.device} at {s.time()}{age}. "
        f"{s.child} may be keen to use it: worth talking about."
    )


def _bypass(e: Event, s: _Say) -> str:
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


def _late_night(e: Event, s: _Say) -> str:
    d = e.details
    on = s.app if e.app else str(d.get("on", "")).partition(":")[2] or "the internet"
    blocked = " (blocked)" if d.get("blocked") else ""
    return (
        f"{s.device} was in use at {s.time()}, during {d.get('schedule')} "
        f"({d.get('window')}): {on}{blocked}."
    )


def _new_contact(e: Event, s: _Say) -> str:
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


def _concerning_search(e: Event, s: _Say) -> str:
    d = e.details
    topic = d.get("concern_title") or "a worrying subject"
    opener = (d.get("prompt") or {}).get("opener")
    talk = f" A way to start: \u201c{opener}\u201d" if opener else ""
    return (
        f"{s.child} searched for something about {topic.lower()} at {s.time()}. "
        f"Stay calm and check in gently; it is never their fault.{talk}"
    )


def _child_request(e: Event, s: _Say) -> str:
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


def _address_flood(e: Event, s: _Say) -> str:
    many = e.details.get("skipped")
    count = f"{many} more than a home shows" if many else "more than a home shows"
    return (
        "Many new addresses appeared at once: something on the network may be forging them "
        f"({count} in a minute, from {s.time()}). Nothing needs doing in a hurry: those "
        "addresses get the rules for unknown devices, and HouseRules stopped listing them one "
        "by one. If it happens again, "
        "look at what is connected to the home network (a computer running an unusual program, "
        "or a gadget you do not recognise), restart the router, and change the Wi-Fi password "
        "if you cannot tell which device it is."
    )


def _address_clash(e: Event, s: _Say) -> str:
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


_WORDS: dict[EventKind, Callable[[Event, _Say], str]] = {
    EventKind.ADDRESS_FLOOD: _address_flood,
    EventKind.ADDRESS_CLASH: _address_clash,
    EventKind.NEW_CONTACT: _new_contact,
    EventKind.CONCERNING_SEARCH: _concerning_search,
    EventKind.CHILD_REQUEST: _child_request,
    EventKind.NEW_DEVICE: _new_device,
    EventKind.FIRST_APP: _first_app,
    EventKind.FIRST_SITE: _first_site,
    EventKind.VIDEO_CHAT: _video_chat,
    EventKind.RANDOM_VIDEO_CHAT: _random_video_chat,
    EventKind.AGE_BLOCKED: _age_blocked,
    EventKind.BYPASS_SUSPECTED: _bypass,
    EventKind.LATE_NIGHT: _late_night,
}


def rule_label(rule: str, app_name: Callable[[str], str | None] | None = None) -> str:
    """A blocking rule from the query log ("age:tiktok") in a parent's words."""
    kind, _, rest = rule.partition(":")
    name = (app_name(rest) if app_name else None) or rest
    labels = {
        "age": f"{name}: under the app's minimum age",
        "age-category": f"{rest}: for adults",
        "schedule": f"{rest} schedule",
        "pause": "paused",
        "protection": "ways around the house rules",
        "private-relay": "iCloud Private Relay",
        "always-block": f"{rest} (blocked for everyone)",
        "list": f"{rest} list",
        "safe-search": "search engines without safe search",
    }
    if kind == "block":
        what, _, value = rest.partition(":")
        shown = (app_name(value) if app_name and what == "app" else None) or value
        return f"{shown}: blocked by a parent"
    return labels.get(kind, rule)
