"""The bridge against a real Mosquitto and real cycles: the worker's cycle against a simulated
ENECTOR over loopback, the snapshot through Redis and the live group, the bridge on its own event
loop as ``serve_mqtt`` runs it, and a subscriber on the broker."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from access.models import AccessToken  # noqa: F401  (the API's token model is loaded)
from energy.state import PlantState
from integrations import services
from integrations.bridge import Bridge
from integrations.management.commands.serve_mqtt import hooks
from integrations.models import MqttSettings
from integrations.tests.conftest import BridgeThread, Broker, Subscriber, subscribe
from meter.models import Meter
from plant import config as plant_config
from plant import worker
from plant.models import Plant
from portal.models import Membership
from wallbox.models import Wallbox
from wallbox.tests.conftest import CAR_3P

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def carport(plant: Plant, sim_factory: Any) -> Iterator[Wallbox]:
    handle = sim_factory(a={"type": "enector_11", "address": 100, "cars": [CAR_3P]})
    Meter.objects.create(plant=plant, host=handle.host, port=handle.port, timeout_s=0.5)
    yield Wallbox.objects.create(plant=plant, name="Carport", interface="A")
    worker.shutdown_runtimes()


def person(name: str, plant: Plant, role: str | None) -> Any:
    user = get_user_model().objects.create_user(name, password="Secret-Pass-1")
    if role is not None:
        Membership.objects.create(user=user, plant=plant, role=role)
    return user


def configure(broker: Broker, prefix: str, user: Any = None, **changes: Any) -> None:
    values = {
        "enabled": True,
        "host": broker.host,
        "port": broker.port,
        "prefix": prefix,
        "command_user": user,
        "discovery": False,
    }
    MqttSettings.objects.update_or_create(pk=1, defaults={**values, **changes})


def cycle(plant: Plant) -> PlantState:
    return worker.run_plant_cycle(plant.pk)


def running_bridge() -> BridgeThread:
    return BridgeThread(Bridge(hooks(), get_channel_layer(), reload_s=0.3, status_s=0.3))


def ready(sub: Subscriber, base: str) -> None:
    """The bridge follows the plant once it published the box's settings (after joining the live group)."""
    sub.wait_for(lambda t: f"{base}/wallbox/carport/min_current_a" in t, what="the bridge's first pass")


def arrives(sub: Subscriber, base: str, state: PlantState) -> None:
    stamp = state.timestamp.isoformat().encode()
    sub.wait_for(lambda t: t.get(f"{base}/timestamp") == stamp, what=f"cycle {state.sequence} at the subscriber")


def test_state_topics_follow_the_cycle_with_discovery(plant: Plant, carport: Wallbox, machine_broker: Broker, prefix):
    configure(machine_broker, prefix, discovery=True)
    base = f"{prefix}/{plant.pk}"
    with subscribe(machine_broker, f"{prefix}/#", "homeassistant/+/+/+/config") as sub:
        with running_bridge():
            sub.wait_for(lambda t: t.get(f"{prefix}/bridge/availability") == b"online", what="online")
            ready(sub, base)
            for _ in range(3):
                state = cycle(plant)
                arrives(sub, base, state)
                assert state.flow.grid_power_w is not None
                assert sub.text(f"{base}/grid/power_w") == str(round(state.flow.grid_power_w))
                (box,) = state.wallboxes
                assert sub.text(f"{base}/wallbox/carport/state") == box.state
                assert sub.text(f"{base}/wallbox/carport/reason") == box.reason
                assert sub.text(f"{base}/grid/import_wh") == str(round(state.totals.active_import_wh))
            node = f"ksem_{prefix.replace('/', '_')}_{plant.pk}"
            config = sub.text(f"homeassistant/sensor/{node}/grid_import_wh/config")
            assert config is not None and '"state_class": "total_increasing"' in config
            assert sub.text(f"homeassistant/select/{node}/wallbox_carport_mode/config") is not None
        # Stopped: the availability says so (retained, for Home Assistant's entities).
        sub.wait_for(lambda t: t.get(f"{prefix}/bridge/availability") == b"offline", what="offline")


def test_a_mode_change_over_mqtt_reaches_the_wallbox_controller_and_shows_on_the_page_and_api(
    plant: Plant, carport: Wallbox, machine_broker: Broker, prefix: str, operator: Client
):
    configure(machine_broker, prefix, user=person("homeassistant", plant, Membership.Role.OPERATOR))
    base = f"{prefix}/{plant.pk}"
    for _ in range(3):
        before = cycle(plant)
    assert before.wallboxes[0].mode == "power" and before.wallboxes[0].current_a == 16.0
    with subscribe(machine_broker, f"{prefix}/#") as sub, running_bridge():
        ready(sub, base)
        sub.send(f"{base}/wallbox/carport/mode/set", "lock")
        deadline = time.monotonic() + 10
        while Wallbox.objects.get(pk=carport.pk).mode != "lock":
            assert time.monotonic() < deadline, "the mode did not change"
            time.sleep(0.05)
        assert plant_config.load_config(plant.pk).wallboxes[0].mode == "lock"
        after = cycle(plant)
        (box,) = after.wallboxes
        assert box.mode == "lock" and box.current_a == 0.0 and box.reason == "locked"
        arrives(sub, base, after)
        assert sub.text(f"{base}/wallbox/carport/mode") == "lock"
        sub.send(f"{base}/wallbox/carport/pause/set", "PRESS")
        deadline = time.monotonic() + 10
        while not Wallbox.objects.get(pk=carport.pk).manual_pause:
            assert time.monotonic() < deadline, "pause did not arrive"
            time.sleep(0.05)
    api = operator.get(f"/api/plants/{plant.pk}/wallboxes/{carport.pk}/charging")
    assert api.status_code == 200 and api.json()["mode"] == "lock" and api.json()["manual_pause"] is True
    page = operator.get(reverse("wallbox:charging", args=[carport.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and 'data-testid="mode-now" data-mode="lock"' in html
    assert re.search(r'value="lock"[^>]*\b(checked|selected)', html), "the form shows the chosen mode"


def test_malformed_or_unauthorised_commands_change_nothing(
    plant: Plant, carport: Wallbox, machine_broker: Broker, prefix: str
):
    viewer = person("viewer", plant, None)
    configure(machine_broker, prefix, user=viewer)
    base = f"{prefix}/{plant.pk}"
    box_topic = f"{base}/wallbox/carport"
    cycle(plant)
    bridge_thread = running_bridge()
    with subscribe(machine_broker, f"{prefix}/#") as sub, bridge_thread:
        bridge = bridge_thread.bridge
        ready(sub, base)
        sub.send(f"{box_topic}/mode/set", "lock")  # a user without a role on the plant
        wait_for_commands(bridge, refused=1)
        configure(machine_broker, prefix, user=person("op", plant, Membership.Role.OPERATOR))
        wait_for(lambda: bridge.config.command_user_id is not None, "the new command user")
        bad = [
            (f"{box_topic}/mode/set", b"turbo"),
            (f"{box_topic}/mode/set", b"\xff\xfe"),
            (f"{box_topic}/mode/set", b"lock" * 40),
            (f"{box_topic}/min_current_a/set", b"8"),  # the installer's setting, not an operator's
            (f"{box_topic}/pause/set", b"please"),
            (f"{base}/wallbox/garage/mode/set", b"lock"),
            (f"{prefix}/999/wallbox/carport/mode/set", b"lock"),
            (f"{prefix}/x/wallbox/carport/mode/set", b"lock"),
            (f"{box_topic}/explode/set", b"1"),
        ]
        for topic, payload in bad:
            sub.send(topic, payload)
        wait_for_commands(bridge, refused=1 + len(bad))
        box = Wallbox.objects.get(pk=carport.pk)
        assert (box.mode, box.min_current_a, box.manual_pause) == ("power", 6.0, False)
        # The bridge goes on: the next cycle is published, a valid command still works.
        arrives(sub, base, cycle(plant))
        sub.send(f"{box_topic}/mode/set", "solar_pure")
        wait_for_commands(bridge, accepted=1)
        assert Wallbox.objects.get(pk=carport.pk).mode == "solar_pure"


def wait_for(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def wait_for_commands(bridge: Bridge, refused: int | None = None, accepted: int | None = None) -> None:
    def done() -> bool:
        counters = bridge.counters
        return (refused is None or counters.commands_refused >= refused) and (
            accepted is None or counters.commands_accepted >= accepted
        )

    wait_for(done, f"commands (refused {refused}, accepted {accepted})")
    counters = bridge.counters
    if refused is not None:
        assert counters.commands_refused == refused
    if accepted is not None:
        assert counters.commands_accepted == accepted


def test_the_broker_restarted_mid_run_publishing_resumes(plant: Plant, carport: Wallbox, own_broker: Broker, prefix):
    configure(own_broker, prefix, discovery=True)
    base = f"{prefix}/{plant.pk}"
    bridge_thread = running_bridge()
    with subscribe(own_broker, f"{prefix}/#", "homeassistant/#") as sub, bridge_thread:
        ready(sub, base)
        arrives(sub, base, cycle(plant))
        own_broker.stop()
        with sub.lock:
            sub.latest.clear()  # from here on: only what came after the restart
        for _ in range(3):  # the cycle goes on without the broker
            assert cycle(plant).meter_status.online
        wait_for(lambda: not bridge_thread.bridge.connected, "the bridge to notice")
        assert bridge_thread.bridge.status()["state"] == "error"
        own_broker.start()  # same port, empty: no retained messages left
        wait_for(lambda: bridge_thread.bridge.connected, "the bridge to reconnect", timeout=15)
        arrives(sub, base, cycle(plant))
        # The restarted broker kept nothing: everything was sent again, not only what changed.
        assert sub.text(f"{base}/wallbox/carport/min_current_a") == "6.0"
        assert sub.text(f"{base}/grid/l1/voltage_v") is not None
        sub.wait_for(lambda t: t.get(f"{prefix}/bridge/availability") == b"online", what="online again")
        sub.wait_for(lambda t: any(k.startswith("homeassistant/sensor/") for k in t), what="discovery again")


def test_the_bridge_logs_in_with_the_stored_password(plant: Plant, carport: Wallbox, password_broker: Broker, prefix):
    configure(password_broker, prefix, username="homeassistant")
    row = MqttSettings.objects.get()
    services.set_password(row, "s3cret-Pass")
    row.save()
    base = f"{prefix}/{plant.pk}"
    with subscribe(password_broker, f"{prefix}/#") as sub, running_bridge():
        ready(sub, base)
        arrives(sub, base, cycle(plant))
