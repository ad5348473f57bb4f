"""The MQTT bridge of ``manage.py serve_mqtt``: the plants' snapshots out, commands in.

It follows each active plant's live group (the Channels group the cycle already sends every
snapshot to, as the dashboard does), so the cycle does nothing more for MQTT and a slow or absent
broker costs it nothing. Per plant only the latest snapshot is kept: a pass publishes the newest
one and only the topics whose payload changed since the broker last got them; while the broker
is away nothing queues (paho drops QoS 0 publishes without a connection), and a pass waits while
the socket still has unsent bytes, so a slow broker gets the latest values, never a backlog.
After every (re)connect the availability topic goes ``online`` (its last will says ``offline``),
discovery and every state topic are sent again, and commands are subscribed.

Commands arrive on paho's network thread, pass a rate limit there, and are applied one at a time
by a thread of their own through :func:`integrations.services.apply_command`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import pydantic
from paho.mqtt.reasoncodes import ReasonCode

from energy import snapshot
from energy.state import PlantState
from integrations.config import BrokerConfig
from integrations.topics import availability_topic, command_filter, discovery_messages, state_topics

log = logging.getLogger("integrations.mqtt")

RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 4
FLUSH_RETRY_S = 0.02
COMMANDS_PER_S = 5.0
COMMAND_BURST = 10
COMMAND_QUEUE = 20


def _connection(config: BrokerConfig) -> tuple[Any, ...]:
    """What the connection depends on: a change here means a new connection."""
    return (config.enabled, config.host, config.port, config.tls, config.ca_pem, config.username,
            config.password, config.prefix)  # fmt: skip


class RateLimit:
    """Token bucket: ``rate`` commands a second, ``burst`` at once."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens = float(burst)
        self.at = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class Counters:
    published: int = 0
    passes: int = 0
    commands_accepted: int = 0
    commands_refused: int = 0
    commands_dropped: int = 0


@dataclass
class Hooks:
    """What the bridge needs from Django, given by ``serve_mqtt`` (tests give their own)."""

    load_config: Callable[[], BrokerConfig]
    plants: Callable[[], dict[int, str]]
    read_state: Callable[[int], dict[str, Any] | None]
    settings_topics: Callable[[str, int], dict[str, str]]
    apply_command: Callable[[BrokerConfig, str, bytes], Any]
    write_status: Callable[[dict[str, Any]], None]
    group_name: Callable[[int], str]
    close_db: Callable[[], None] = lambda: None


@dataclass
class _PlantFeed:
    name: str
    data: dict[str, Any] | None = None
    dirty: bool = False
    discovery: dict[str, str] = field(default_factory=dict)  # config topic -> payload sent
    settings: dict[str, str] = field(default_factory=dict)


class Bridge:
    def __init__(self, hooks: Hooks, layer: Any, *, reload_s: float = 2.0, status_s: float = 5.0) -> None:
        self.hooks = hooks
        self.layer = layer
        self.reload_s = reload_s
        self.status_s = status_s
        self.config = BrokerConfig()
        self.client: mqtt.Client | None = None
        self.connected = False
        self.error = ""
        self.since = time.time()
        self.feeds: dict[int, _PlantFeed] = {}
        self.published: dict[str, str] = {}
        self.counters = Counters()
        self.wake = asyncio.Event()
        self.last_pass = 0.0
        self.limit = RateLimit(COMMANDS_PER_S, COMMAND_BURST)
        self.commands: queue.Queue[tuple[BrokerConfig, str, bytes] | None] = queue.Queue(COMMAND_QUEUE)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channel: str | None = None
        self._groups: set[int] = set()
        self._command_thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._command_thread = threading.Thread(target=self._command_worker, name="mqtt-commands", daemon=True)
        self._command_thread.start()
        await self.reload()
        tasks = [
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._publisher()),
            asyncio.create_task(self._every(self.reload_s, self.reload)),
            asyncio.create_task(self._every(self.status_s, self.report)),
        ]
        try:
            await stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, 1.0)
            self._stop_client()
            self.commands.put(None)
            await self._report_now("stopped")

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("MQTT bridge: %s failed; trying again in %g s", getattr(job, "__name__", job), seconds)

    async def reload(self) -> None:
        """Settings and plants from the database; a changed broker setting reconnects."""
        config, plants = await asyncio.to_thread(self._load)
        if config != self.config and _connection(config) == _connection(self.config) and self.client is not None:
            # Discovery, interval or command user: no reconnect needed.
            rediscover = config.discovery and not self.config.discovery
            self.config = config
            if rediscover:
                for feed in self.feeds.values():
                    feed.discovery.clear()
                    feed.dirty = True
        elif config != self.config:
            self._stop_client()
            self.config = config
            self.published.clear()
            for feed in self.feeds.values():
                feed.discovery.clear()
            if config.enabled:
                self._start_client()
            else:
                self.error = ""
                self.since = time.time()
        for plant_id, name in plants.items():
            if plant_id not in self.feeds:
                self.feeds[plant_id] = _PlantFeed(name)
                data = await asyncio.to_thread(self.hooks.read_state, plant_id)
                if data is not None and self.feeds[plant_id].data is None:
                    self.feeds[plant_id].data = data
                    self.feeds[plant_id].dirty = True
            self.feeds[plant_id].name = name
            settings = await asyncio.to_thread(self.hooks.settings_topics, config.prefix, plant_id)
            if settings != self.feeds[plant_id].settings:
                self.feeds[plant_id].settings = settings
                self.feeds[plant_id].dirty = True
        for plant_id in set(self.feeds) - set(plants):
            del self.feeds[plant_id]
        await self._follow(set(plants))
        self.wake.set()

    def _load(self) -> tuple[BrokerConfig, dict[int, str]]:
        try:
            return self.hooks.load_config(), self.hooks.plants()
        finally:
            self.hooks.close_db()

    async def _follow(self, plant_ids: set[int]) -> None:
        if self.layer is None:
            return
        if self._channel is None:
            self._channel = await self.layer.new_channel()
        for plant_id in plant_ids - self._groups:
            await self.layer.group_add(self.hooks.group_name(plant_id), self._channel)
        for plant_id in self._groups - plant_ids:
            await self.layer.group_discard(self.hooks.group_name(plant_id), self._channel)
        self._groups = set(plant_ids)

    async def _receive(self) -> None:
        """Every snapshot the cycle sends; only the latest per plant is kept."""
        while self._channel is None:  # noqa: ASYNC110  (set by the first reload)
            await asyncio.sleep(0.05)
        while True:
            try:
                message = await self.layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001  (Redis away: the layer reconnects)
                log.warning("MQTT bridge: live feed interrupted (%s); retrying", exc)
                await asyncio.sleep(1.0)
                continue
            if message.get("type") != "state.update":
                continue
            data = message.get("state")
            plant_id = data.get("plant_id") if isinstance(data, dict) else None
            feed = self.feeds.get(plant_id) if isinstance(plant_id, int) else None
            if feed is None or data is None:
                continue
            feed.data = data
            feed.dirty = True
            self.wake.set()

    # --- publishing ---------------------------------------------------------------------------

    async def _publisher(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if not self.connected or self.client is None:
                continue
            wait = self.config.min_interval_s - (time.monotonic() - self.last_pass)
            if wait > 0:
                await asyncio.sleep(wait)
            if self.client.want_write():
                # The broker has not taken the last pass yet: the next pass sends the newest values.
                await asyncio.sleep(FLUSH_RETRY_S)
                self.wake.set()
                continue
            self.publish_pass()

    def publish_pass(self) -> int:
        """Publish what changed for every plant with news; returns the number of messages."""
        client, config = self.client, self.config
        if client is None:
            return 0
        self.last_pass = time.monotonic()
        sent = 0
        for plant_id, feed in self.feeds.items():
            if not feed.dirty:
                continue
            feed.dirty = False
            topics = dict(feed.settings)
            state = self._state(plant_id, feed)
            if state is not None:
                topics.update(state_topics(config.prefix, state))
            if state is not None and config.discovery:
                for topic, body in discovery_messages(config.prefix, state, feed.name).items():
                    payload = json.dumps(body, sort_keys=True)
                    if feed.discovery.get(topic) != payload and self._publish(client, topic, payload):
                        feed.discovery[topic] = payload
                        sent += 1
            for topic, payload in topics.items():
                if self.published.get(topic) != payload and self._publish(client, topic, payload):
                    self.published[topic] = payload
                    sent += 1
        self.counters.passes += 1
        self.counters.published += sent
        return sent

    def _state(self, plant_id: int, feed: _PlantFeed) -> PlantState | None:
        if feed.data is None:
            return None
        try:
            return snapshot.from_data(feed.data)
        except pydantic.ValidationError as exc:
            log.warning("snapshot of plant %s does not validate, not published: %s", plant_id, exc)
            feed.data = None
            return None

    def _publish(self, client: mqtt.Client, topic: str, payload: str) -> bool:
        info = client.publish(topic, payload, qos=0, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    # --- the connection -----------------------------------------------------------------------

    def _start_client(self) -> None:
        config = self.config
        client_id = f"ksem-{socket.gethostname()}-{os.getpid()}"
        try:
            from integrations.services import new_client

            client = new_client(config, client_id)
        except Exception as exc:  # noqa: BLE001  (a bad CA certificate: say so, publish nothing)
            self._set_error(f"TLS settings: {exc}")
            return
        client.will_set(availability_topic(config.prefix), "offline", qos=1, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_connect_fail = self._on_connect_fail
        self.client = client
        self.connected = False
        self.error = ""
        self.since = time.time()
        client.connect_async(config.host, config.port, keepalive=30)
        client.loop_start()
        log.info("MQTT bridge: connecting to %s", config.describe())

    def _stop_client(self) -> None:
        client, self.client = self.client, None
        self.connected = False
        if client is None:
            return
        with contextlib.suppress(Exception):
            client.publish(availability_topic(self.config.prefix), "offline", qos=0, retain=True)
            client.disconnect()
        client.loop_stop()

    def _set_error(self, message: str) -> None:
        if message != self.error:
            log.warning("MQTT bridge: %s", message)
        self.error = message
        self.since = time.time()

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(callback, *args)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            self._call(self._set_error, f"{self.config.describe()} refused the connection: {reason}")
            return
        client.publish(availability_topic(self.config.prefix), "online", qos=1, retain=True)
        client.subscribe(command_filter(self.config.prefix), qos=1)
        self._call(self._connected, client)

    def _connected(self, client: mqtt.Client) -> None:
        if client is not self.client:
            return
        log.info("MQTT bridge: connected to %s", self.config.describe())
        self.connected = True
        self.error = ""
        self.since = time.time()
        # The broker may have lost everything (a restart without persistence): send it all again.
        self.published.clear()
        for feed in self.feeds.values():
            feed.discovery.clear()
            feed.dirty = True
        self.wake.set()

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        self._call(self._disconnected, client, str(reason))

    def _disconnected(self, client: mqtt.Client, reason: str) -> None:
        if client is self.client:
            self.connected = False
            self._set_error(f"connection to {self.config.describe()} lost ({reason}); reconnecting")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._call(self._disconnected, client, "cannot connect")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if not self.limit.allow():
            self.counters.commands_dropped += 1
            log.warning("MQTT command on %s dropped: more than %g commands a second", message.topic, COMMANDS_PER_S)
            return
        try:
            self.commands.put_nowait((self.config, message.topic, bytes(message.payload)))
        except queue.Full:
            self.counters.commands_dropped += 1
            log.warning("MQTT command on %s dropped: %d commands still waiting", message.topic, COMMAND_QUEUE)

    def _command_worker(self) -> None:
        while True:
            item = self.commands.get()
            if item is None:
                return
            config, topic, payload = item
            try:
                result = self.hooks.apply_command(config, topic, payload)
            except Exception:
                log.exception("MQTT command on %s failed", topic)
                self.counters.commands_refused += 1
                continue
            finally:
                self.hooks.close_db()
            if getattr(result, "ok", False):
                self.counters.commands_accepted += 1
                self._call(self._after_command)
            else:
                self.counters.commands_refused += 1

    def _after_command(self) -> None:
        # A changed setting (minimum current) shows at once; the mode follows with the next cycle.
        if self._loop is not None:
            self._loop.create_task(self.reload())

    # --- status -------------------------------------------------------------------------------

    def status(self, state: str | None = None) -> dict[str, Any]:
        if state is None:
            if not self.config.enabled:
                state = "disabled"
            elif self.connected:
                state = "connected"
            else:
                state = "connecting" if not self.error else "error"
        return {
            "state": state,
            "broker": self.config.describe() if self.config.enabled else "",
            "source": self.config.source,
            "error": self.error,
            "since": dt.datetime.fromtimestamp(self.since, dt.UTC).isoformat(),
            "messages_published": self.counters.published,
            "commands_accepted": self.counters.commands_accepted,
            "commands_refused": self.counters.commands_refused,
            "commands_dropped": self.counters.commands_dropped,
            "reported_at": dt.datetime.now(dt.UTC).isoformat(),
        }

    async def report(self) -> None:
        await self._report_now(None)

    async def _report_now(self, state: str | None) -> None:
        data = self.status(state)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.hooks.write_status, data)
