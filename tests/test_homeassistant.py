"""Home Assistant through MQTT discovery, against a real broker (Debian's mosquitto, with a
login) and the real DNS process: discovery arrives, the switch's command topic pauses the
child (a real DNS answer changes within 2 s), the state follows, alerts arrive as events, and a
removed child's retained discovery messages are cleared."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from agent.household import requests
from agent.store import household as store

from agenttools import TZ, until
from apitools import CHILD_IP, Box
from mqtttools import PASSWORD, USER, Broker, Listener


@pytest.fixture
def broker(tmp_path):
    running = Broker(tmp_path / "broker")
    yield running
    running.stop()


@pytest.fixture
def box(tmp_path, broker):
    credentials = tmp_path / "mqtt-login"
    credentials.write_text(f"{USER}\n{PASSWORD}\n")
    extra = (
        f'[mqtt]\nbroker = "127.0.0.1:{broker.port}"\ncredentials_file = "{credentials}"\n'
        'pause_for = "60"\n'
    )
    with Box(tmp_path, extra=extra) as running:
        yield running


def config(listener, child_id: int, component: str, what: str) -> dict:
    raw = listener.last(f"homeassistant/{component}/houserules/child_{child_id}_{what}/config")
    return json.loads(raw) if raw else {}


def test_the_switch_pauses_the_child_and_the_state_follows(box, broker):
    engine = box.engine
    ada = store.add_child(engine, "Ada", date(2017, 6, 1))
    store.add_device(engine, ip=CHILD_IP, name="Ada's tablet", owner="child", child_id=ada.id)
    listener = Listener(broker.port, "homeassistant/#", "houserules/#")
    bridge = box.agent.jobs.home_assistant
    assert bridge is not None
    bridge.start()
    try:
        until(lambda: config(listener, ada.id, "event", "alerts"), 10.0)
        switch = config(listener, ada.id, "switch", "paused")
        assert switch["command_topic"] == f"houserules/child/{ada.id}/paused/set"
        assert switch["state_topic"] == f"houserules/child/{ada.id}/paused"
        assert switch["device"]["name"] == "Ada (HouseRules)"
        assert switch["availability_topic"] == "houserules/status"
        assert config(listener, ada.id, "sensor", "rules")["name"] == "Rules in force now"
        assert config(listener, ada.id, "sensor", "minutes")["unit_of_measurement"] == "min"
        until(lambda: listener.last("houserules/status") == b"online")
        until(lambda: listener.last(f"houserules/child/{ada.id}/paused") == b"OFF")
        until(lambda: listener.last(f"houserules/child/{ada.id}/minutes") == b"0")
        until(lambda: not box.blocked("example.com"))

        listener.send(f"houserules/child/{ada.id}/paused/set", "ON")
        until(lambda: box.blocked("example.com"), 2.0)
        until(lambda: listener.last(f"houserules/child/{ada.id}/paused") == b"ON", 2.0)
        rules = f"houserules/child/{ada.id}/rules"
        until(lambda: (listener.last(rules) or b"").startswith(b"Paused until"), 2.0)
        paused = store.load_household(engine).rules_for(ada.id).paused_until
        assert paused is not None and 59 <= (paused - datetime.now(TZ)).total_seconds() / 60 <= 60

        listener.send(f"houserules/child/{ada.id}/paused/set", "OFF")
        until(lambda: not box.blocked("example.com"), 2.0)
        until(lambda: listener.last(f"houserules/child/{ada.id}/paused") == b"OFF", 2.0)
        listener.send(f"houserules/child/{ada.id}/paused/set", "sideways")  # ignored, no harm
        listener.send("houserules/child/999/paused/set", "ON")  # no such child: nothing made
        bridge.sync()
        assert store.list_pauses(engine) == ()

        requests.add_request(engine, ada.id, "more_time", datetime.now(TZ), minutes=30)
        bridge.sync()
        until(lambda: listener.last(f"houserules/child/{ada.id}/alert"), 3.0)
        alert = json.loads(listener.last(f"houserules/child/{ada.id}/alert"))
        assert alert["event_type"] == "alert" and "Ada" in alert["message"]
        assert alert["kind"] == "child_request"
    finally:
        bridge.stop()
    until(lambda: listener.last("houserules/status") == b"offline")
    listener.stop()


def test_a_removed_childs_retained_discovery_is_cleared_even_after_a_restart(box, broker):
    engine = box.engine
    ada = store.add_child(engine, "Ada", date(2017, 6, 1))
    ben = store.add_child(engine, "Ben", date(2015, 3, 1))
    first = box.agent.jobs.home_assistant
    first.start()
    listener = Listener(broker.port, "homeassistant/#")
    until(lambda: config(listener, ben.id, "switch", "paused"), 10.0)
    first.stop()

    store.remove_child(engine, ben.id)  # while the bridge is stopped
    from agent.ops.homeassistant import HomeAssistant

    again = HomeAssistant(box.cfg, engine)
    again.start()
    try:
        kinds = (
            ("paused", "switch"),
            ("rules", "sensor"),
            ("minutes", "sensor"),
            ("alerts", "event"),
        )
        topics = [f"homeassistant/{c}/houserules/child_{ben.id}_{w}/config" for w, c in kinds]

        def cleared() -> bool:
            again.sync()
            return all(listener.last(t) == b"" for t in topics)

        until(cleared, 5.0)
        assert config(listener, ada.id, "switch", "paused")  # Ada stays
    finally:
        again.stop()
        listener.stop()
    # a new listener (Home Assistant starting later) finds Ada only
    late = Listener(broker.port, "homeassistant/#")
    until(lambda: config(late, ada.id, "switch", "paused"))
    assert late.last(f"homeassistant/switch/houserules/child_{ben.id}_paused/config") is None
    late.stop()


def test_unreadable_credentials_are_named_by_check_config_and_never_stop_the_jobs(tmp_path, capsys):
    from agent import cli
    from agent import config as config_mod
    from agent.ops.jobs import Jobs

    path = tmp_path / "config.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "hr.db"}"\n'
        '[mqtt]\nbroker = "127.0.0.1:1883"\ncredentials_file = "missing-login"\n'
    )
    assert cli.main(["--config", str(path), "check-config"]) == 2
    said = capsys.readouterr().err
    assert "mqtt.credentials_file" in said and "missing-login" in said
    jobs = Jobs(config_mod.load(path))  # the dashboard and the other jobs carry on
    assert jobs.home_assistant is None
    assert "home assistant" not in [name for name, _, _ in jobs.jobs()]
