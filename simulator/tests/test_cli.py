"""``python -m simulator`` as a user runs it, and counters that survive a restart."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from pymodbus.client import ModbusTcpClient

from meter.registers import blocks_to_image, decode_reading
from simulator.model import PlantModel
from simulator.state_file import load_state, save_state
from simulator.testing import run_simulator_in_thread
from simulator.tests.conftest import SUMMER_NOON

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args], cwd=ROOT, capture_output=True, text=True, timeout=20, check=False
    )


def test_help_explains_the_options() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for option in ("--seed", "--speed", "--scenario", "--state-file", "--start", "--port"):
        assert option in result.stdout


def test_scenario_with_a_bad_key_is_refused(tmp_path: Path) -> None:
    scenario = tmp_path / "typo.json"
    scenario.write_text(json.dumps({"battery": {"capacity_kwh": 10}}))
    result = run_cli("--scenario", str(scenario), "--port", "0")
    assert result.returncode != 0
    assert "battery.capacity_kwh" in result.stderr


def test_bad_speed_is_refused() -> None:
    result = run_cli("--speed", "0")
    assert result.returncode != 0
    assert "--speed" in result.stderr


def read_import_wh(port: int) -> float:
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2)
    assert client.connect()
    try:
        totals = client.read_holding_registers(512, count=120, device_id=71)
        l2_l3 = client.read_holding_registers(672, count=120, device_id=71)
        instant = client.read_holding_registers(0, count=28, device_id=71)
        phases = client.read_holding_registers(40, count=108, device_id=71)
    finally:
        client.close()
    blocks = {0: instant, 40: phases, 512: totals, 672: l2_l3}
    image = blocks_to_image({start: list(response.registers) for start, response in blocks.items()})
    return decode_reading(image).energy.active_import_wh


def test_serves_logs_its_port_and_saves_state_on_sigterm(tmp_path: Path) -> None:
    state_file, log_file = tmp_path / "var" / "state.json", tmp_path / "simulator.log"
    with log_file.open("w") as log:
        arguments = ["--port", "0", "--seed", "4", "--speed", "60", "--start", "2025-06-21T09:00:00+00:00"]
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator", *arguments, "--state-file", str(state_file)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while not (match := re.search(r"listening on 127\.0\.0\.1:(\d+)", log_file.read_text())):
            assert process.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "no 'listening' line"
            time.sleep(0.05)
        served_wh = read_import_wh(int(match.group(1)))
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    saved = load_state(state_file)
    assert saved is not None
    assert saved.energy.active_import_wh >= served_wh


def test_restart_continues_the_counters(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    first = PlantModel(seed=1, start=SUMMER_NOON)
    save_state(state_file, first.saved_state())
    expected = first.reading().energy
    with run_simulator_in_thread(seed=1, start=SUMMER_NOON, state_file=state_file) as sim:
        resumed = sim.model.reading().energy
        sim.model.override(pv_power_w=0, house_power_w=3600)
        time.sleep(0.5)
    assert resumed.active_import_wh >= expected.active_import_wh
    assert resumed.active_export_wh >= expected.active_export_wh
    after_stop = load_state(state_file)
    assert after_stop is not None
    assert after_stop.energy.active_import_wh > expected.active_import_wh


def read_status(port: int) -> int | None:
    """None when registers 0-1 read fine, else the Modbus exception code of the answer."""
    client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    assert client.connect()
    try:
        response = client.read_holding_registers(0, count=2, device_id=1)
    finally:
        client.close()
    return response.exception_code if response.isError() else None


def test_faults_from_the_command_line_and_a_fault_file(tmp_path: Path) -> None:
    """--fault sets a device's garbage at start; the fault file changes it while running."""
    fault_file, log_file = tmp_path / "faults.txt", tmp_path / "simulator.log"
    file_args = ["--fault-file", str(fault_file)]
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "simulator", "--port", "0", "--fault", "meter=exception:6", *file_args],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 15
        while not (match := re.search(r"listening on 127\.0\.0\.1:(\d+)", log_file.read_text())):
            assert process.poll() is None, log_file.read_text()
            assert time.monotonic() < deadline, "no 'listening' line"
            time.sleep(0.05)
        port = int(match.group(1))
        assert read_status(port) == 6, "--fault holds while there is no fault file"

        def becomes(expected: int | None) -> bool:
            until = time.monotonic() + 10
            while time.monotonic() < until:
                if read_status(port) == expected:
                    return True
                time.sleep(0.2)
            return False

        fault_file.write_text("# while testing\nmeter = exception:2\n")
        assert becomes(2), log_file.read_text()
        fault_file.write_text("meter=melting\n")  # refused: the fault in force stays
        time.sleep(2.5)
        assert read_status(port) == 2
        assert "fault file" in log_file.read_text() and "unknown fault kind 'melting'" in log_file.read_text()
        fault_file.write_text("")
        assert becomes(None), log_file.read_text()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        if process.poll() is None:
            process.kill()


def test_a_bad_fault_option_is_refused() -> None:
    result = run_cli("--fault", "meter=exception:99", "--port", "0")
    assert result.returncode != 0
    assert "exception code must be one of" in result.stderr
    result = run_cli("--fault", "nobody=corrupt", "--port", "0")
    assert result.returncode != 0
    assert "no device server 'nobody'" in result.stderr
