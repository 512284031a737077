"""Video-chat sessions: when a child's device was on a call, from the query stream.

A session opens on an answered query that means a call:
- any query for a video-chat app (the catalogue's "video-chat" and "random-video-chat"
  categories: Zoom, Meet, Teams, OmeTV...), via "app";
- a lookup of an app's call servers (Discord's voice servers), via "app";
- a lookup of a well-known STUN/TURN host (WebRTC set-up, see `webrtc`), via "webrtc": the
  call is put down to the app or site the device was using in the minutes before, if any.
Apps that merely *can* video chat (Instagram, WhatsApp...) open no session by being used: most
of their use is not a call.

A session goes on while the device keeps querying the same app or site with gaps of at most
`SESSION_GAP` seconds, and ends at its last query. One that never spans two minutes (a lone
lookup) is dropped as noise. Calls set up through STUN/TURN or call servers last, by this
rule, as long as the app or site stays in use, which can include time after the call ended.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from agent.events import Event, EventKind, Severity
from agent.insights.things import Classifier, Thing, thing_label
from agent.insights.webrtc import CALL_HOSTS, call_app, is_stun_turn
from agent.store.events import KeyedEvent
from agent.store.insight_state import LoggedRow, SessionState

SESSION_GAP = 5 * 60.0
VIDEO_CATEGORIES = frozenset({"video-chat", "random-video-chat"})
CALL_APPS = frozenset(CALL_HOSTS.values())


class Sessions:
    """The open sessions, fed rows in order; closed sessions come back as events."""

    def __init__(
        self, open_sessions: dict[tuple[str, str], SessionState], classifier: Classifier, tz: tzinfo
    ) -> None:
        self.open = open_sessions
        self.classifier = classifier
        self.tz = tz
        apps = classifier.catalog.apps.values()
        self.video_apps = frozenset(a.id for a in apps if a.category in VIDEO_CATEGORIES)

    def feed(
        self, row: LoggedRow, dev: str, thing: Thing | None, last_thing: tuple[str, float] | None
    ) -> list[KeyedEvent]:
        """One answered row of a child's device. `last_thing` is what the device was on before
        this row (label, time), for WebRTC set-ups."""
        if row.child is None or row.action == "block":
            return []
        target, via = self._opener(row, thing, last_thing)
        if target is None:
            if thing is None or not self.open:  # (most rows: nothing to extend)
                return []
            return self._extend_only(row, dev, thing_label(thing))
        closed = self._close_if_stale(dev, target, row.ts)
        session = self.open.get((dev, target))
        if session is None:
            self.open[(dev, target)] = SessionState(dev, target, row.child, via, row.ts, row.ts, 1)
        else:
            session.last_ts, session.queries = max(session.last_ts, row.ts), session.queries + 1
        return closed

    def _opener(
        self, row: LoggedRow, thing: Thing | None, last_thing: tuple[str, float] | None
    ) -> tuple[str | None, str]:
        if thing is not None:
            if thing[0] != "app":
                return None, ""
            if thing[1] in self.video_apps:
                return thing_label(thing), "app"
            if thing[1] in CALL_APPS and call_app(row.name) == thing[1]:
                return thing_label(thing), "app"
            return None, ""
        if is_stun_turn(row.name):  # STUN/TURN hosts are neither apps nor sites
            if last_thing is not None and 0 <= row.ts - last_thing[1] <= SESSION_GAP:
                return last_thing[0], "webrtc"
            return "webrtc", "webrtc"
        return None, ""

    def _extend_only(self, row: LoggedRow, dev: str, target: str) -> list[KeyedEvent]:
        session = self.open.get((dev, target))
        if session is None:
            return []
        closed = self._close_if_stale(dev, target, row.ts)
        if not closed:
            session.last_ts, session.queries = max(session.last_ts, row.ts), session.queries + 1
        return closed

    def _close_if_stale(self, dev: str, target: str, ts: float) -> list[KeyedEvent]:
        session = self.open.get((dev, target))
        if session is None or ts - session.last_ts <= SESSION_GAP:
            return []
        del self.open[(dev, target)]
        found = self._event(session)
        return [found] if found is not None else []

    def close_idle(self, now_ts: float) -> list[KeyedEvent]:
        """End every session with no query for SESSION_GAP seconds before `now_ts`."""
        out = []
        for key, session in list(self.open.items()):
            if now_ts - session.last_ts > SESSION_GAP:
                del self.open[key]
                found = self._event(session)
                if found is not None:
                    out.append(found)
        return out

    def _event(self, s: SessionState) -> KeyedEvent | None:
        first, last = int(s.start_ts // 60), int(s.last_ts // 60)
        if last <= first:
            return None
        kind, _, name = s.target.partition(":")
        app = name if kind == "app" else None
        start, end = (datetime.fromtimestamp(t, self.tz) for t in (s.start_ts, s.last_ts))
        details = {"start": start.isoformat(), "end": end.isoformat(), "minutes": last - first + 1}
        details |= {"via": s.via, "queries": s.queries}
        if kind == "site":
            details["site"] = name
        found = self.classifier.app(app)
        if found is not None:
            details["app_name"] = found.name
        event = Event(
            datetime.fromtimestamp(s.start_ts, UTC), EventKind.VIDEO_CHAT, Severity.INFO,
            s.child, s.device, app, details,
        )  # fmt: skip
        return KeyedEvent(event, f"video_chat:{s.device}:{s.target}:{int(s.start_ts)}")
