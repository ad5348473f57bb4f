"""Two processes on loopback, as ``make run`` starts them: ``manage.py serve_eebus`` and the
simulated control box (``python -m simulator.controlbox``). They find each other over mDNS, the
installer couples the box by its SKI, SHIP and SPINE complete, the box's limit reaches the plant
and its page; a restart of serve_eebus during the limit leaves the plant limited."""

from __future__ import annotations

import contextlib
import io
import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from plant.models import Plant
from smartgrid import services
from smartgrid.eebus import identities
from smartgrid.eebus.models import EebusPeer
from tests.stack import ROOT, child_env, free_port

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(check: Callable[[], Any], within_s: float, what: str, logs: list[Path]) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs if log.exists())
            raise AssertionError(f"not within {within_s} s: {what}\n{tails}")
        time.sleep(0.2)


class Processes:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Path] = []

    def start(self, name: str, command: list[str]) -> None:
        log = self.tmp_path / f"{name}.log"
        self.logs.append(log)
        with log.open("ab") as out:
            self.running[name] = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def stop(self, name: str) -> int:
        process = self.running.pop(name)
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            raise

    def stop_all(self) -> None:
        for name in list(self.running):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(name)


@pytest.fixture
def processes(tmp_path: Path, settings: Any) -> Iterator[Processes]:
    settings.EEBUS_DIR = tmp_path / "eebus"
    running = Processes(tmp_path, child_env(KSEM_EEBUS_DIR=str(tmp_path / "eebus")))
    try:
        yield running
    finally:
        running.stop_all()


def box_call(port: int, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method="POST" if data else "GET")
    with urllib.request.urlopen(request, timeout=20) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def box_state(port: int) -> dict[str, Any] | None:
    try:
        return box_call(port, "/state")
    except OSError:
        return None


def test_serve_eebus_and_the_control_box_find_each_other_couple_and_limit_the_plant(
    processes: Processes, tmp_path: Path
):
    plant = Plant.objects.create(name="home")
    services.set_enabled(plant.pk, True)
    own = identities.load(plant.pk)
    box_dir = tmp_path / "box"
    box_dir.mkdir()
    (box_dir / "trusted").write_text(own.ski + "\n")  # the box trusts the plant (its installer did that)
    ship_port, box_port, control_port = free_port(), free_port(), free_port()
    processes.start(
        "controlbox",
        [sys.executable, "-m", "simulator.controlbox", "--port", str(box_port), "--control-port", str(control_port),
         "--state-dir", str(box_dir), "--mdns-interfaces", "127.0.0.1"],
    )  # fmt: skip
    serve = [sys.executable, "manage.py", "serve_eebus", "--host", "127.0.0.1", "--port", str(ship_port)]
    processes.start("serve_eebus", serve)
    logs = processes.logs
    state = wait_for(lambda: box_state(control_port), 30, "the control box to answer", logs)
    box_ski = state["ski"]

    # Found over mDNS (nothing else told the product the box's port), listed and not trusted.
    def discovered() -> EebusPeer | None:
        return EebusPeer.objects.filter(plant=plant, ski=box_ski, port=box_port).first()

    peer = wait_for(discovered, 30, "the box to be discovered over mDNS", logs)
    assert (peer.status(), peer.brand, peer.model) == ("not_coupled", "KSEM-Sim", "ControlBox")
    assert peer.device_type == "ElectricitySupplySystem" and peer.host == "127.0.0.1"
    assert box_call(control_port, "/state")["connected"] == []

    # The installer couples it by its SKI: serve_eebus dials it, SHIP and SPINE complete.
    call_command("eebus", "couple", box_ski.upper(), stdout=io.StringIO())

    def connected() -> bool:
        found = EebusPeer.objects.get(plant=plant, ski=box_ski)
        observed = (box_state(control_port) or {}).get("observed", {}).get(own.ski, {})
        return found.status() == "connected" and bool(observed.get("ready"))

    wait_for(connected, 40, "SHIP and SPINE to complete", logs)
    answer = box_call(control_port, "/lpc", {"value_w": 4200, "duration_s": 900})
    assert [r["error"] for r in answer["results"]] == [0], answer
    status = services.status(plant.pk)
    assert status is not None and (status.consume.state, status.consume.limit_w) == ("limited", 4200)

    client = Client()
    client.force_login(get_user_model().objects.create_superuser("inst", password="Secret-Pass-1"))
    page = client.get("/smartgrid/").content.decode()
    assert re.search(r'data-testid="grid-direction-1" data-state="limited">.*?<td>4\.20 kW</td>', page, re.S)
    connections = client.get("/smartgrid/connections/").content.decode()
    assert box_ski in connections and 'data-status="connected"' in connections

    # A restart of serve_eebus during the limit: the plant comes back limited and reconnected.
    assert processes.stop("serve_eebus") == 0
    wait_for(lambda: EebusPeer.objects.get(plant=plant, ski=box_ski).status() == "not_connected", 10, "down", logs)
    processes.start("serve_eebus", serve)
    wait_for(connected, 40, "the reconnection after the restart", logs)
    status = services.status(plant.pk)
    assert status is not None and status.consume.limit_w is not None and status.consume.limit_w <= 10_000
    assert status.consume.state in ("limited", "init", "failsafe")
