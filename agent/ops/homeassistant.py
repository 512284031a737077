"""Home Assistant through MQTT discovery: the box appears there without a custom integration.

With `[mqtt] broker` set, the jobs process keeps one MQTT connection (paho-mqtt's own network
thread) and publishes, per child, as one Home Assistant device:

- an "Internet paused" switch: its state (retained) and a command topic; ON pauses the child
  (`[mqtt] pause_for`), OFF resumes. The command is acted on as it arrives, on paho's thread,
  through the same store functions as the dashboard's buttons, so the DNS follows within its
  household poll (a second), and the state is published again at once;
- a "Rules in force now" sensor: the line the Home page shows (`agent.rules.now`);
- "Minutes today": the same day summary as the Home page;
- "Alerts": an event entity; each new alert about the child is one event, in the words the
  Alerts page uses.

Discovery messages are retained, so Home Assistant finds them whenever it starts. When a child
is removed, their retained discovery (and state) messages are cleared with empty retained
messages; the box learns which ones it left earlier by listening to its own discovery topics,
so a child removed while the jobs process was stopped is cleared too. An availability topic
(retained, with a last will) says "offline" when the box goes away.

`sync()` runs as a job of the jobs process's scheduler every `[mqtt] publish_seconds`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from sqlalchemy.engine import Engine

from agent.config import Config
from agent.events.registry import describe
from agent.rules.household import Child, Household
from agent.rules.now import now_for, state_words
from agent.rules.overlays import pause_until
from agent.store import household as store
from agent.store.events import list_events
from agent.store.rollups import day_summary

log = logging.getLogger("houserules.mqtt")
NODE = "houserules"
ENTITIES = {  # object suffix -> Home Assistant component
    "paused": "switch",
    "rules": "sensor",
    "minutes": "sensor",
    "alerts": "event",
}
ALERT_TYPES = ["alert"]


class MqttError(Exception):
    """[mqtt] cannot be used as set; the message names the cause."""


def read_credentials(path: Path) -> tuple[str, str]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise MqttError(f"{path}: the MQTT credentials cannot be read ({exc.strerror})") from exc
    if not lines or not lines[0].strip():
        raise MqttError(f"{path}: put the user name on the first line, the password on the second")
    return lines[0].strip(), (lines[1] if len(lines) > 1 else "").strip()


class HomeAssistant:
    def __init__(
        self, cfg: Config, engine: Engine, now: Callable[[], datetime] | None = None
    ) -> None:
        self.cfg, self.m, self.engine = cfg, cfg.mqtt, engine
        tz = ZoneInfo(cfg.rules.timezone)
        self.now = now or (lambda: datetime.now(tz))
        self.prefix, self.discovery = self.m.topic_prefix, self.m.discovery_prefix
        self.availability = f"{self.prefix}/status"
        self._lock = threading.Lock()
        self._syncing = threading.Lock()  # the scheduler's run and the first one on connecting
        self._published: dict[int, str] = {}  # child id -> name, discovery sent this connection
        self._left: set[str] = set()  # retained discovery topics of ours seen on the broker
        self._alert_cursor: int | None = None
        self._own = re.compile(rf"{re.escape(self.discovery)}/\w+/{NODE}/child_(\d+)_(\w+)/config")
        self._command = re.compile(rf"{re.escape(self.prefix)}/child/(\d+)/paused/set")
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{NODE}-box")
        self.client.on_connect = self._connected
        self.client.on_message = self._message
        self.client.will_set(self.availability, "offline", qos=1, retain=True)
        self.client.reconnect_delay_set(1, 60)
        if self.m.credentials_file is not None:
            self.client.username_pw_set(*read_credentials(cfg.resolve(self.m.credentials_file)))

    # -- the connection ------------------------------------------------------------------------

    def start(self) -> None:
        broker = self.m.broker
        assert broker is not None
        self.client.connect_async(broker.host, broker.port, keepalive=30)
        self.client.loop_start()

    def stop(self) -> None:
        if self.client.is_connected():
            self.client.publish(self.availability, "offline", qos=1, retain=True).wait_for_publish(
                5
            )
            self.client.disconnect()
        self.client.loop_stop()

    def jobs(self) -> list[tuple[str, Callable[[], object], float]]:
        return [("home assistant", self.sync, self.m.publish_seconds)]

    def _connected(self, client: mqtt.Client, _u: Any, _f: Any, code: Any, _p: Any) -> None:
        if code.is_failure:
            log.error("the MQTT broker refused the connection: %s", code)
            return
        log.info("connected to the MQTT broker at %s", self.m.broker)
        with self._lock:
            self._published.clear()  # a new session: send discovery again
        client.subscribe(f"{self.prefix}/child/+/paused/set", qos=1)
        client.subscribe(f"{self.discovery}/+/{NODE}/+/config", qos=1)
        client.publish(self.availability, "online", qos=1, retain=True)
        threading.Thread(target=self.sync, name="mqtt first sync", daemon=True).start()

    def _message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        own = self._own.fullmatch(message.topic)
        if own is not None:
            if message.payload:
                with self._lock:
                    self._left.add(message.topic)
            return
        command = self._command.fullmatch(message.topic)
        if command is not None:
            try:
                self.switch(int(command.group(1)), message.payload.decode(errors="replace"))
            except Exception as exc:  # a bad command must not stop the connection
                log.error("the pause switch from Home Assistant failed: %s", exc)

    # -- what Home Assistant asks --------------------------------------------------------------

    def switch(self, child_id: int, payload: str) -> None:
        """The "internet paused" switch flipped in Home Assistant."""
        wanted = payload.strip().upper()
        if wanted not in ("ON", "OFF"):
            log.warning("Home Assistant sent %r to a pause switch: ON or OFF expected", payload)
            return
        try:
            if wanted == "ON":
                until = pause_until(self.m.pause_for, self.now())
                store.pause(self.engine, until, child_id=child_id)
            else:
                store.resume(self.engine, child_id=child_id)
        except store.HouseholdError as exc:
            log.warning("Home Assistant's pause switch for child %d: %s", child_id, exc)
            return
        log.info("Home Assistant turned the pause %s for child %d", wanted.lower(), child_id)
        household = store.load_household(self.engine)
        child = household.child_by_id.get(child_id)
        if child is not None:
            self._publish_state(household, child, self.now())

    # -- publishing ----------------------------------------------------------------------------

    def sync(self) -> None:
        """Discovery for new children, clearing for removed ones, every child's state, and the
        alerts since the last run."""
        if not self.client.is_connected():
            return
        with self._syncing:
            self._sync()

    def _sync(self) -> None:
        household = store.load_household(self.engine)
        now = self.now()
        children = {c.id: c for c in household.children}
        with self._lock:
            gone = {int(m.group(1)) for t in self._left if (m := self._own.fullmatch(t))}
            gone |= set(self._published)
            gone -= set(children)
        for child_id in sorted(gone):
            self._forget(child_id)
        for child in household.children:
            with self._lock:
                fresh = self._published.get(child.id) != child.name
                self._published[child.id] = child.name
            if fresh:
                self._announce(child)
            self._publish_state(household, child, now)
        self._publish_alerts(children)

    def _topic(self, child_id: int, what: str) -> str:
        return f"{self.prefix}/child/{child_id}/{what}"

    def _config_topic(self, child_id: int, what: str) -> str:
        return f"{self.discovery}/{ENTITIES[what]}/{NODE}/child_{child_id}_{what}/config"

    def _announce(self, child: Child) -> None:
        device = {
            "identifiers": [f"{NODE}_child_{child.id}"],
            "name": f"{child.name} (HouseRules)",
            "manufacturer": "HouseRules",
            "model": "House rules for one child",
        }
        common = {"availability_topic": self.availability, "device": device}
        configs: dict[str, dict[str, Any]] = {
            "paused": {
                "name": "Internet paused",
                "state_topic": self._topic(child.id, "paused"),
                "command_topic": self._topic(child.id, "paused/set"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "icon": "mdi:wifi-off",
            },
            "rules": {
                "name": "Rules in force now",
                "state_topic": self._topic(child.id, "rules"),
                "icon": "mdi:home-clock",
            },
            "minutes": {
                "name": "Minutes today",
                "state_topic": self._topic(child.id, "minutes"),
                "unit_of_measurement": "min",
                "device_class": "duration",
                "state_class": "total_increasing",
            },
            "alerts": {
                "name": "Alerts",
                "state_topic": self._topic(child.id, "alert"),
                "event_types": ALERT_TYPES,
            },
        }
        for what, config in configs.items():
            config["unique_id"] = f"{NODE}_child_{child.id}_{what}"
            payload = json.dumps({**config, **common})
            self.client.publish(self._config_topic(child.id, what), payload, qos=1, retain=True)

    def _forget(self, child_id: int) -> None:
        """A removed child: empty retained messages delete their entities in Home Assistant."""
        for what in ENTITIES:
            topic = self._config_topic(child_id, what)
            self.client.publish(topic, b"", qos=1, retain=True)
            with self._lock:
                self._left.discard(topic)
        for what in ("paused", "rules", "minutes"):
            self.client.publish(self._topic(child_id, what), b"", qos=1, retain=True)
        with self._lock:
            self._published.pop(child_id, None)
        log.info("removed child %d from Home Assistant", child_id)

    def _publish_state(self, household: Household, child: Child, now: datetime) -> None:
        state = now_for(household, child, now)
        minutes = day_summary(self.engine, child.name, now.date(), top=0).minutes
        for what, value in (
            ("paused", "ON" if state.paused_until is not None else "OFF"),
            ("rules", state_words(state, now)[:255]),
            ("minutes", str(minutes)),
        ):
            self.client.publish(self._topic(child.id, what), value, qos=1, retain=True)

    def _publish_alerts(self, children: dict[int, Child]) -> None:
        found = list_events(self.engine, limit=50, severities=["alert"])
        newest = max((e.id or 0 for e in found), default=0)
        if self._alert_cursor is None:  # the first run: only alerts from now on
            self._alert_cursor = newest
            return
        by_name = {c.name.lower(): c.id for c in children.values()}
        tz = ZoneInfo(self.cfg.rules.timezone)
        for event in sorted(found, key=lambda e: e.id or 0):
            child_id = by_name.get((event.child or "").lower())
            if (event.id or 0) <= self._alert_cursor or child_id is None:
                continue
            payload = {
                "event_type": "alert",
                "kind": str(event.kind),
                "message": describe(event, tz),
                "time": event.time.astimezone(tz).isoformat(),
            }
            self.client.publish(self._topic(child_id, "alert"), json.dumps(payload), qos=1)
        self._alert_cursor = max(self._alert_cursor, newest)
