"""A Modbus client steers the wallbox through the running stack (MB-2, issue 13.2).

Simulator (grid meter and an ENECTOR with a 3-phase car plugged in), worker, beat and
``serve_modbus`` run as subprocesses, as ``make run`` starts them. A client with an accepted
certificate writes the wallbox control registers over Modbus TCP/TLS: "lock" stops charging
within two cycles, "released" (65535) hands the box back to its own mode (Power) within two
cycles. Judged from the snapshots the cycle publishes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pymodbus.client import ModbusTlsClient

from energy.state import PlantState, WallboxState
from meter.models import Meter
from modbus import services as modbus_services
from modbus.models import ModbusSettings
from modbus.tests.test_slave_tls import client_certificate, client_context
from modbus.wallbox_control import BASE, RELEASED
from plant import live
from plant.models import Plant
from plant.options import WALLBOX, set_option
from tests.stack import BIN, Stack, free_port, free_port_block
from wallbox.models import Wallbox

pytestmark = pytest.mark.stack

SCENARIO = {
    "battery": None,
    "pv_peak_w": 0,
    "wallboxes": [
        {
            "name": "carport",
            "type": "enector_11",
            "address": 100,
            "cars": [{"plug": "00:00:00", "phases": 3, "max_current_a": 16, "capacity_wh": 500000, "soc_pct": 10}],
        }
    ],
}


class WallboxStack(Stack):
    """The stack with the simulated box on RS485 A and ``serve_modbus`` beside it."""

    port_base: int = 0
    modbus_port: int = 0
    tls_port: int = 0

    def command(self, name: str) -> list[str]:
        if name == "modbus":
            return [str(BIN / "python"), "manage.py", "serve_modbus", "--port", str(self.modbus_port),
                    "--tls-port", str(self.tls_port)]  # fmt: skip
        command = super().command(name)
        if name == "simulator":
            command += ["--inverter-port-base", str(self.port_base), "--wallbox-port-base", str(self.port_base)]
        return command


@pytest.fixture(scope="module")
def wallbox_stack(django_db_setup: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WallboxStack]:
    logs = tmp_path_factory.mktemp("wallbox-stack-logs")
    scenario = logs / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    base = free_port_block(2)
    running = WallboxStack(meter_port=free_port(), web_port=free_port(), logs=logs, scenario=scenario)
    running.port_base, running.modbus_port, running.tls_port = base, free_port(), free_port()
    running.extra_env = {"KSEM_RS485_A": "", "KSEM_RS485_B": f"socket://127.0.0.1:{base + 1}"}
    try:
        for name in ("simulator", "worker", "beat", "web"):
            running.start(name)
        yield running
    finally:
        running.stop_all()


def _box(state: PlantState | None) -> WallboxState | None:
    return state.wallboxes[0] if state is not None and state.wallboxes else None


def _certificate(directory: Path) -> tuple[Path, Path]:
    cert, key, _fingerprint = client_certificate(directory, "home-ems")
    der = x509.load_pem_x509_certificate(cert.read_bytes()).public_bytes(serialization.Encoding.DER)
    modbus_services.accept_certificate(modbus_services.record_certificate(der))
    return cert, key


@pytest.mark.django_db(transaction=True)
def test_lock_over_tls_stops_charging_within_two_cycles_and_release_resumes_the_mode(
    wallbox_stack: WallboxStack, tmp_path: Path
):
    stack = wallbox_stack
    plant = Plant.objects.create(name="Carport plant", time_zone="Europe/Berlin")
    Meter.objects.create(plant=plant, port=stack.meter_port, timeout_s=0.5)
    set_option(plant, WALLBOX)
    Wallbox.objects.create(plant=plant, name="Carport", interface="B", mode=Wallbox.Mode.POWER)
    ModbusSettings.objects.update_or_create(pk=1, defaults={"plant": plant, "slave_enabled": True, "tls_enabled": True})
    cert, key = _certificate(tmp_path)
    stack.start("modbus")

    def charging() -> PlantState | None:
        state = live.read_state(plant.pk)
        box = _box(state)
        return state if box is not None and box.state == "charging" and (box.power_w or 0) > 10_000 else None

    stack.wait_for(charging, 90, "the car charging at 16 A in Power mode")
    client = ModbusTlsClient("127.0.0.1", port=stack.tls_port, sslctx=client_context(cert, key), timeout=2, retries=0)
    stack.wait_for(client.connect, 30, "serve_modbus listening on TLS")
    try:
        # serve_modbus takes the TLS setting and the accepted certificate within a second.
        def write(values: list[int]) -> int:
            def attempt() -> int | None:
                if not client.connected:
                    client.connect()
                response = client.write_registers(BASE, values, device_id=1)
                before = live.read_state(plant.pk)
                return None if response.isError() or before is None else before.sequence

            sequence: int = stack.wait_for(attempt, 20, f"the write {values} accepted")
            return sequence

        written_at = write([0, 0])  # lock, no current limit

        def locked() -> PlantState | None:
            state = live.read_state(plant.pk)
            box = _box(state)
            return state if box is not None and box.current_a == 0.0 else None

        state = stack.wait_for(locked, 10, "the box locked by the Modbus client")
        box = _box(state)
        assert box is not None
        assert state.sequence <= written_at + 2, f"locked in cycle {state.sequence}, written after {written_at}"
        assert box.reason == "Modbus client: locked" and box.mode == "lock" and box.configured_mode == "power"
        assert state.wallbox_command is not None and state.wallbox_command.in_force(state.timestamp)
        stack.wait_for(lambda: (b := _box(live.read_state(plant.pk))) and (b.power_w or 0) < 50, 10, "the car stops")
        read = client.read_holding_registers(BASE, count=2, device_id=1)
        assert read.registers == [0, 0], "the registers read the command in force"

        released_at = write([RELEASED, 0])

        def resumed() -> PlantState | None:
            state = live.read_state(plant.pk)
            box = _box(state)
            return state if box is not None and box.current_a == 16.0 else None

        state = stack.wait_for(resumed, 10, "Power mode back after the release")
        box = _box(state)
        assert box is not None
        assert state.sequence <= released_at + 2, f"resumed in cycle {state.sequence}, released after {released_at}"
        assert box.reason == "Power mode: maximum current" and box.mode == "power"
        stack.wait_for(lambda: (b := _box(live.read_state(plant.pk))) and (b.power_w or 0) > 10_000, 15, "charging")
    finally:
        client.close()
        stack.stop("modbus")
