"""``manage.py serve_modbus`` as its own process: serves the published snapshot, stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from pymodbus.client import ModbusTcpClient

from energy import snapshot
from meter import registers
from modbus.tests.conftest import make_state
from plant import live
from plant.models import Plant
from tests.stack import ROOT, child_env, free_port


@pytest.mark.django_db(transaction=True)
def test_serve_modbus_serves_the_first_active_plant_and_stops_on_sigterm(tmp_path):
    plant = Plant.objects.create(name="served")
    state = make_state(plant_id=plant.pk)
    live.sync_redis().set(live.state_key(plant.pk), snapshot.to_json(state))
    port = free_port()
    log = (tmp_path / "serve_modbus.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve_modbus", "--port", str(port), "--tls-port", str(free_port())],
        cwd=ROOT,
        env=child_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=1, retries=0)
        deadline = time.monotonic() + 20
        response = None
        while time.monotonic() < deadline:
            if client.connect():
                response = client.read_holding_registers(512, count=4, device_id=71)
                if not response.isError():
                    break
            time.sleep(0.2)
        client.close()
        assert response is not None and not response.isError(), (tmp_path / "serve_modbus.log").read_text()
        value = registers.unpack(registers.ENERGY_SPECS[:1], dict(enumerate(response.registers, start=512)))
        assert value["energy_active_import_wh"] == pytest.approx(state.totals.active_import_wh, abs=0.05)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        log.close()
    output = (tmp_path / "serve_modbus.log").read_text()
    assert "Modbus TCP slave on 127.0.0.1" in output and "serve_modbus stopping" in output
