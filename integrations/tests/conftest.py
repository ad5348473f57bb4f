"""Brokers for the MQTT tests, a bridge running in a thread, and a subscriber that records topics.

``machine_broker``: the machine's Mosquitto on 127.0.0.1:1883 when it answers (never restarted:
each test uses a prefix of its own), else one started here. ``own_broker``: a Mosquitto this
test starts on an ephemeral port, for the restart test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.stack import free_port
from wallbox.tests.conftest import _fresh_records, _jobs_run_here, installer, operator, plant, sim_factory  # noqa: F401

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Broker:
    host: str
    port: int
    directory: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    users: dict[str, str] = field(default_factory=dict)

    def start(self) -> None:
        assert self.directory is not None
        conf = self.directory / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:  # started as root, mosquitto would turn into a user who cannot read tmp_path
            lines.append("user root")
        if self.users:
            passwords = self.directory / "passwords"
            passwords.write_text("")
            for user, password in self.users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        conf.write_text("\n".join(lines) + "\n")
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("mosquitto did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(5)
            self.process = None


def _own(tmp_path: Path, users: dict[str, str] | None = None) -> Iterator[Broker]:
    if not Path(MOSQUITTO).exists():
        pytest.skip("mosquitto is not installed (Debian package mosquitto; make test installs it)")
    broker = Broker("127.0.0.1", free_port(), tmp_path, users=users or {})
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    yield from _own(tmp_path)


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test that lets in only ``homeassistant`` with password ``s3cret-Pass``."""
    yield from _own(tmp_path, {"homeassistant": "s3cret-Pass"})


@pytest.fixture
def machine_broker(tmp_path: Path) -> Iterator[Broker]:
    if _answers(1883):
        yield Broker("127.0.0.1", 1883)
    else:
        yield from _own(tmp_path)


@pytest.fixture
def prefix() -> str:
    return f"ksemtest/{uuid.uuid4().hex[:12]}"


@dataclass
class Subscriber:
    """Records the latest payload and the arrival times of every topic under a filter."""

    client: mqtt.Client
    latest: dict[str, bytes] = field(default_factory=dict)
    arrivals: list[tuple[float, str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.latest[message.topic] = bytes(message.payload)
            self.arrivals.append((time.monotonic(), message.topic, bytes(message.payload)))
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[dict[str, bytes]], bool], timeout: float = 10.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate(self.latest):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what or predicate}; have {sorted(self.latest)[:40]}")
                self.changed.wait(left)

    def text(self, topic: str) -> str | None:
        with self.lock:
            raw = self.latest.get(topic)
        return None if raw is None else raw.decode()

    def send(self, topic: str, payload: str | bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(5)


@contextlib.contextmanager
def subscribe(broker: Broker, *filters: str) -> Iterator[Subscriber]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}")
    if broker.users:
        user, password = next(iter(broker.users.items()))
        client.username_pw_set(user, password)
    subscriber = Subscriber(client)
    client.on_message = subscriber.on_message
    connected = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        for pattern in filters:  # again after every reconnect (a restarted broker forgot them)
            client.subscribe(pattern, qos=0)
        connected.set()

    client.on_connect = on_connect
    client.reconnect_delay_set(1, 1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert connected.wait(5), "the test subscriber cannot connect"
    time.sleep(0.1)
    try:
        yield subscriber
    finally:
        # Leave nothing retained on a shared broker (a Home Assistant there would discover it).
        with subscriber.lock:
            topics = [t for t in subscriber.latest if "ksemtest" in t]
        sent = [client.publish(topic, b"", qos=1, retain=True) for topic in topics]
        for info in sent:
            info.wait_for_publish(5)
        client.disconnect()
        client.loop_stop()


class BridgeThread:
    """A bridge (``integrations.bridge.Bridge``) on an event loop of its own, as ``serve_mqtt`` runs it."""

    def __init__(self, bridge: Any) -> None:
        self.bridge = bridge
        self.loop = asyncio.new_event_loop()
        self.stop_event: asyncio.Event | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            self.stop_event = asyncio.Event()
            self.ready.set()
            await self.bridge.run(self.stop_event)

        self.loop.run_until_complete(main())

    def __enter__(self) -> BridgeThread:
        self.thread.start()
        assert self.ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)
