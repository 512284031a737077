"""New devices taken in at a bounded rate, and what the parent is told about them.

Any device on a home network can forge UDP source addresses, so "one query from a new address"
must not mean "one new device row and one new-device notice": past a handful a minute, further
unknown addresses still get the unknown-device rules (the DNS decides that without any record)
but are not recorded one by one, and the parent gets one alert saying what is likely happening
and what to do. Addresses a parent registered that something else answers from are told too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from agent.events import Event, EventKind, Severity
from agent.store.events import KeyedEvent, add_to_details, record_events
from agent.store.household_devices import Seen

PER_MINUTE = 5.0  # new devices recorded per minute, once the burst is spent
BURST = 10  # new devices recorded at once (a family coming home together)


class Intake:
    """A token bucket: how many new devices may be recorded now."""

    def __init__(
        self,
        per_minute: float = PER_MINUTE,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second, self.burst, self.clock = per_minute / 60.0, burst, clock
        self._tokens, self._at = float(burst), clock()

    def room(self) -> int:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
        self._at = now
        return int(self._tokens)

    def took(self, count: int) -> None:
        self._tokens = max(0.0, self._tokens - count)


def record(engine: Engine, seen: Seen, now: datetime) -> int:
    """Store what `seen` calls for (`events`); returns how many events were new. The day has
    one flood alert, and it counts every address skipped that day, not only the first run's:
    a flood read over several runs is told at its full size."""
    found = events(seen, now)
    floods = [k for k in found if k.event.kind == EventKind.ADDRESS_FLOOD]
    new = record_events(engine, [k for k in found if k.event.kind != EventKind.ADDRESS_FLOOD])
    for flood in floods:
        if record_events(engine, [flood]):
            new += 1
        else:  # today's alert is there already: it grows
            add_to_details(engine, flood.key, "skipped", seen.skipped)
    return new


def events(seen: Seen, now: datetime) -> list[KeyedEvent]:
    """New-device notices, one alert a day for a flood of new addresses, and one alert per
    newcomer at a registered device's address."""
    out = [_new_device(d.mac, d.ip, d.last_seen or now) for d in seen.added]
    if seen.skipped:
        out.append(
            KeyedEvent(
                Event(
                    now, EventKind.ADDRESS_FLOOD, Severity.ALERT, details={"skipped": seen.skipped}
                ),
                f"address_flood:{now.date().isoformat()}",  # the box's day
            )
        )
    for clash in seen.clashes:
        d = clash.device
        newcomer = clash.mac or clash.ip
        details = {"ip": clash.ip, "mac": clash.mac, "device_id": d.id, "device_name": d.label}
        details["registered_ip"] = d.ip
        out.append(
            KeyedEvent(
                Event(
                    datetime.fromtimestamp(clash.ts, UTC),
                    EventKind.ADDRESS_CLASH,
                    Severity.ALERT,
                    device=newcomer,
                    details=details,
                ),
                f"address_clash:{d.id}:{newcomer}",
            )
        )
    return out


def _new_device(mac: str | None, ip: str | None, when: datetime) -> KeyedEvent:
    device = mac or ip
    event = Event(when, EventKind.NEW_DEVICE, Severity.NOTICE, device=device)
    event.details.update(ip=ip, mac=mac)
    return KeyedEvent(event, f"new_device:{device}")
