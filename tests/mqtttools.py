"""A real MQTT broker for tests: Debian's mosquitto on a free loopback port, with a temporary
config and a password file, and a listening client that keeps what it hears."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
USER, PASSWORD = "houserules", "a broker password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, folder: Path) -> None:
        if not Path(MOSQUITTO).is_file():
            pytest.skip("Debian's mosquitto is not installed (apt-get install mosquitto)")
        self.port = free_port()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        passwords = folder / "passwords"
        passwords.touch()
        subprocess.run(
            [MOSQUITTO_PASSWD, "-b", str(passwords), USER, PASSWORD], check=True, timeout=30
        )
        config = folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous false\n"
            f"password_file {passwords}\n"
            "persistence false\n"
            "log_dest stderr\n" + ("user root\n" if os.geteuid() == 0 else "")
            # as root it would switch to the "mosquitto" user, who cannot read the test's folder
        )
        self.log = (folder / "mosquitto.log").open("wb")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                break
            except OSError:
                assert self.proc.poll() is None, (folder / "mosquitto.log").read_text()
                assert time.monotonic() < deadline, "mosquitto did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Listener:
    """A client like Home Assistant's: subscribes and remembers every message by topic."""

    def __init__(self, port: int, *topics: str) -> None:
        self.messages: dict[str, list[bytes]] = {}
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-listener")
        self.client.username_pw_set(USER, PASSWORD)
        self.ready = threading.Event()

        def connected(client, _u, _f, code, _p):
            for topic in topics:
                client.subscribe(topic, qos=1)
            self.ready.set()

        def message(_c, _u, msg):
            with self.lock:
                self.messages.setdefault(msg.topic, []).append(msg.payload)

        self.client.on_connect, self.client.on_message = connected, message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10), "the listener could not connect"

    def last(self, topic: str) -> bytes | None:
        with self.lock:
            found = self.messages.get(topic)
            return found[-1] if found else None

    def all(self, topic: str) -> list[bytes]:
        with self.lock:
            return list(self.messages.get(topic, []))

    def send(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
