"""One pass over a batch of query-log rows: row events, state updates and rollup deltas.

Pure apart from the state objects it is handed (devices, sessions, attempts), which it updates
in place; the job loads them before and saves them after, in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from agent.insights import detect
from agent.insights.detect import Context
from agent.insights.sessions import Sessions
from agent.insights.things import LocalClock, Thing
from agent.store.events import KeyedEvent
from agent.store.insight_state import DeviceState, LoggedRow
from agent.store.rollup_writes import HourKey, MarkKey, UsageKey


def _counter() -> list[int]:
    return [0, 0, 0]


@dataclass
class Deltas:
    """What one batch adds. Lists are [minutes, queries, blocked]; marks are [queries, blocked]."""

    events: list[KeyedEvent] = field(default_factory=list)
    marks: defaultdict[tuple[MarkKey, int], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    usage: defaultdict[UsageKey, list[int]] = field(default_factory=lambda: defaultdict(_counter))
    hours: defaultdict[HourKey, list[int]] = field(default_factory=lambda: defaultdict(_counter))
    blocked: defaultdict[tuple[str, str, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )


class BatchScan:
    """Feeds rows through the detectors and counts them into deltas."""

    def __init__(
        self,
        ctx: Context,
        clock: LocalClock,
        devices: dict[str, DeviceState],
        sessions: Sessions,
        attempts: dict[tuple[str, str], list[float]],
    ) -> None:
        self.ctx, self.clock = ctx, clock
        self.devices, self.sessions, self.attempts = devices, sessions, attempts
        self.touched: set[str] = set()  # devices whose state changed

    def scan(self, rows: Iterable[LoggedRow]) -> Deltas:
        out = Deltas()
        # Bound once: this loop runs for every query-log row.
        thing_of, at, feed = self.ctx.classifier.thing, self.clock.at, self.sessions.feed
        hours, blocked_by, usage, marks = out.hours, out.blocked, out.usage, out.marks
        for row in rows:
            dev = row.device or row.client
            state = self._device(row, dev)
            thing = thing_of(row.name, row.app)
            self._detect(row, thing, out.events)
            child = row.child
            if child is None:
                continue
            blocked = row.action == "block"
            last = None
            if thing is None and state.last_thing:  # only a STUN lookup needs it
                last = (state.last_thing, state.last_thing_ts or 0.0)
            out.events.extend(feed(row, dev, thing, last))
            minute = int(row.ts // 60)
            day, hour = at(minute)
            hours[(child, day, hour)][2 if blocked else 1] += 1
            if blocked:
                blocked_by[(child, day, row.rule)] += 1
            if thing is None:
                continue
            kind, name = thing
            usage[(child, day, hour, kind, name)][2 if blocked else 1] += 1
            marks[((dev, child, kind, name), minute)][1 if blocked else 0] += 1
            if not blocked:
                state.last_thing, state.last_thing_ts = f"{kind}:{name}", row.ts
        return out

    def _detect(self, row: LoggedRow, thing: Thing | None, events: list[KeyedEvent]) -> None:
        ctx = self.ctx
        app_id = thing[1] if thing is not None and thing[0] == "app" else None
        for found in (
            detect.bypass(row, ctx),
            detect.random_video_chat(row, app_id, ctx),
            detect.age_blocked(row, app_id, self.attempts, ctx),
            detect.device_flood(row, ctx),
        ):
            if found is not None:
                events.append(found)

    def _device(self, row: LoggedRow, dev: str) -> DeviceState:
        state = self.devices.get(dev)
        if state is None:
            # New-device notices come from the jobs' device intake (agent.ops.intake), which
            # takes new addresses in at a bounded rate: forged sources cannot flood them.
            state = DeviceState(dev, row.client, row.child, row.ts, row.ts)
            self.devices[dev] = state
        else:
            if row.ts > state.last_ts:
                state.last_ts = row.ts
            state.client = row.client
            if row.child:
                state.child = row.child
        self.touched.add(dev)
        return state
