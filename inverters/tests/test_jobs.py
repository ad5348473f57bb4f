"""Detection and device info run in the worker (INV-2, issue 13 part 5), through the real stack.

A real Celery worker (a subprocess, as ``make run`` starts it) against this session's database and
Redis, the simulator's inverters on loopback, the pages and the API through Django's test client
in this process: this process only records jobs and waits for them; the worker asks the device.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

import devicejobs
from inverters import detection
from inverters.models import Inverter
from inverters.tests.test_api import closed_port
from inverters.tests.test_pages import form_data
from plant.models import Plant
from portal.models import Membership
from replay.management.commands.bootstrap_simulated import add_simulated_inverters
from simulator.inverters import serial_number
from simulator.scenario import scenario_from_dict
from simulator.testing import SimulatorHandle, run_simulator_in_thread
from tests.browser import chromium, page_as, session_cookie_of
from tests.pages import text_of
from tests.stack import Stack, free_port, free_port_block

INVERTERS = [
    {"name": "roof", "type": "plenticore", "max_ac_w": 10_000, "pv_peak_w": 9_000},
    {"name": "carport", "type": "piko_iq", "max_ac_w": 5_500, "pv_peak_w": 5_000},
]
SCENARIO = {"battery": None, "wallbox": None, "inverters": INVERTERS}
SEED = 1  # run_simulator_in_thread's default: the serial numbers follow from it


@pytest.fixture(autouse=True)
def _jobs_run_here() -> None:
    """Overrides the package's eager mode: here the jobs go through the broker to a real worker."""


@pytest.fixture(scope="module")
def simulator_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """The scenario as a file (what ``bootstrap --inverters-from`` reads) and a port base for it."""
    scenario = tmp_path_factory.mktemp("scenario") / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    return scenario, free_port_block(len(INVERTERS))


@pytest.fixture(scope="module")
def simulator(simulator_files: tuple[Path, int]) -> Iterator[SimulatorHandle]:
    _, base = simulator_files
    with run_simulator_in_thread(scenario=scenario_from_dict(SCENARIO), inverter_port_base=base) as handle:
        yield handle


@pytest.fixture
def start_worker(django_db_setup: None, transactional_db: None, tmp_path: Path) -> Iterator[Callable[[], int]]:
    """``start_worker()`` starts a worker (returns its process id) and waits until it takes jobs."""
    stack = Stack(meter_port=free_port(), web_port=free_port(), logs=tmp_path)

    def start() -> int:
        stack.start("worker")
        probe = devicejobs.start("tests.ping", {})  # no such kind: the worker marks it failed at once
        stack.wait_for(
            lambda: (devicejobs.read_job(probe["id"]) or {}).get("state") == "failed", 180, "the worker to take jobs"
        )
        return stack.processes["worker"].pid

    try:
        yield start
    finally:
        stack.stop_all()


@pytest.fixture
def plant(transactional_db: None) -> Plant:
    return Plant.objects.create(name="Home")


def _client(plant: Plant, role: str) -> Client:
    user = get_user_model().objects.create_user(f"person-{role}", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def installer(plant: Plant) -> Client:
    return _client(plant, Membership.Role.INSTALLER)


def jobs_of(kind: str) -> list[dict[str, Any]]:
    client = devicejobs.sync_redis()
    records = [devicejobs.read_job(key.decode().rsplit(":", 1)[1]) for key in client.scan_iter(devicejobs.job_key("*"))]
    return [record for record in records if record and record.get("kind") == kind]


@pytest.fixture
def no_driver_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process (the web) cannot reach a device: a driver opened here fails the test."""
    import inverters.drivers

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the web process opened an inverter driver")

    monkeypatch.setattr(inverters.drivers, "connect_inverter", refuse)


def test_adding_an_inverter_is_detected_by_the_worker_and_its_info_stored(
    installer: Client, plant: Plant, simulator: SimulatorHandle, start_worker, no_driver_here
):
    worker_pid = start_worker()
    response = installer.post("/inverters/add/", form_data(name="Carport", port=simulator.ports["carport"]))
    assert response.status_code == 302, text_of(response.content.decode(), "form-error")
    inverter = Inverter.objects.get(name="Carport")
    assert inverter.serial_number == serial_number(SEED, "carport")
    assert inverter.detected_at is not None
    (job,) = jobs_of(detection.DETECT_KIND)
    assert job["state"] == "done"
    assert job["ran_by"].endswith(f":{worker_pid}"), "the worker asked the device, not the web process"

    answer = installer.post(
        f"/api/plants/{plant.pk}/inverters/",
        {"name": "Roof", "type": "plenticore", "power_class": "10", "host": "127.0.0.1",
         "port": simulator.ports["roof"], "timeout_s": 1.0},
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 201, answer.content
    assert answer.json()["info"]["serial"] == serial_number(SEED, "roof")
    assert all(job["ran_by"].endswith(f":{worker_pid}") for job in jobs_of(detection.DETECT_KIND))
    assert os.getpid() != worker_pid


def test_a_device_that_does_not_answer_the_worker_is_refused_as_today(
    installer: Client, plant: Plant, start_worker, no_driver_here
):
    start_worker()
    port = closed_port()
    response = installer.post("/inverters/add/", form_data(port=port))
    assert response.status_code == 200
    assert f"No answer from 127.0.0.1:{port} within 1 s" in text_of(response.content.decode(), "form-error")
    assert not Inverter.objects.exists()


def test_without_a_worker_adding_is_refused_saying_so_and_nothing_is_saved(
    installer: Client, plant: Plant, simulator: SimulatorHandle, monkeypatch: pytest.MonkeyPatch, no_driver_here
):
    monkeypatch.setattr(detection, "PICKUP_S", 0.5)  # how long the worker may take to pick a job up
    response = installer.post("/inverters/add/", form_data(port=simulator.ports["carport"], timeout_s="0.1"))
    assert response.status_code == 200
    assert "is the worker running?" in text_of(response.content.decode(), "form-error")
    answer = installer.post(
        f"/api/plants/{plant.pk}/inverters/",
        {"name": "Roof", "type": "plenticore", "power_class": "10", "host": "127.0.0.1",
         "port": simulator.ports["roof"], "timeout_s": 0.1},
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 400
    assert "is the worker running?" in answer.json()["non_field_errors"][0]
    assert not Inverter.objects.exists()


def test_bootstrapped_inverters_get_their_info_from_the_worker_and_show_it(
    installer: Client, plant: Plant, simulator: SimulatorHandle, simulator_files, start_worker
):
    scenario, base = simulator_files
    add_simulated_inverters(plant, str(scenario), "127.0.0.1", base)  # as `make run`'s bootstrap: no detection
    roof = Inverter.objects.get(name="roof")
    page = installer.get("/inverters/").content.decode()
    assert text_of(page, f"inverter-serial-{roof.pk}") == "–"
    assert "Not read yet" in text_of(page, f"inverter-info-pending-{roof.pk}")

    worker_pid = start_worker()  # at start it sends the info jobs; no beat runs here
    deadline = time.monotonic() + 60
    while Inverter.objects.filter(detected_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    roof.refresh_from_db()
    assert roof.serial_number == serial_number(SEED, "roof")
    page = installer.get("/inverters/").content.decode()
    assert text_of(page, f"inverter-serial-{roof.pk}") == serial_number(SEED, "roof")
    assert text_of(page, f"inverter-software-{roof.pk}") == roof.software_version != ""
    assert text_of(page, f"inverter-hardware-{roof.pk}") == "0x0200"  # register 36 of the simulated box
    assert "KOSTAL" in page
    carport = Inverter.objects.get(name="carport")
    info = installer.get(f"/api/plants/{plant.pk}/inverters/{carport.pk}").json()["info"]
    assert info["serial"] == serial_number(SEED, "carport")
    assert info["software"] and info["detected_at"]
    assert {job["ran_by"] for job in jobs_of(detection.INFO_KIND)} == {f"{socket.gethostname()}:{worker_pid}"}


def test_read_device_info_again_runs_in_the_worker_and_reports_its_outcome(
    installer: Client, plant: Plant, simulator: SimulatorHandle, start_worker
):
    earlier = {"type": "piko_iq", "max_ac_w": 5_500, "host": "127.0.0.1", "detected_at": timezone.now()}
    carport = Inverter.objects.create(plant=plant, name="carport", port=simulator.ports["carport"], **earlier)
    lost = Inverter.objects.create(plant=plant, name="lost", port=closed_port(), timeout_s=0.2, **earlier)
    operator = _client(plant, Membership.Role.OPERATOR)
    assert operator.post(f"/inverters/{carport.pk}/info/").status_code == 403, "only who may edit inverters"
    assert operator.post(f"/api/plants/{plant.pk}/inverters/{carport.pk}/info").status_code == 403
    page = operator.get("/inverters/").content.decode()
    assert f'data-testid="read-info-{carport.pk}"' not in page

    start_worker()
    started = installer.post(f"/inverters/{carport.pk}/info/", HTTP_ACCEPT="application/json")
    assert started.status_code == 202
    assert started.json()["job"]["state"] in ("queued", "running", "done")

    def outcome(url: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            answer = installer.get(url).json()
            if answer["job"]["state"] in ("done", "failed") or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)

    answer = outcome(f"/inverters/{carport.pk}/info/")
    assert answer["job"]["state"] == "done"
    assert answer["info"]["serial"] == serial_number(SEED, "carport")

    api = installer.post(f"/api/plants/{plant.pk}/inverters/{lost.pk}/info")
    assert api.status_code == 202
    answer = outcome(f"/api/plants/{plant.pk}/inverters/{lost.pk}/info")
    assert answer["job"]["state"] == "failed"
    assert f"No answer from 127.0.0.1:{lost.port}" in answer["job"]["message"]
    assert answer["info"]["serial"] == ""
    assert detection.read_info_state(lost.pk)["failures"] == 1, "the background read waits longer now"
    page = installer.get("/inverters/").content.decode()
    assert "Reading the device info failed: No answer from" in text_of(page, f"inverter-info-job-{lost.pk}")


@pytest.mark.parametrize(
    ("failures", "pause_s"),
    [(0, 0.0), (1, 30.0), (2, 60.0), (3, 120.0), (7, 1920.0), (8, 3600.0), (1000, 3600.0)],
)
def test_background_reads_back_off_after_failures(failures: int, pause_s: float):
    assert detection.retry_delay_s(failures) == pause_s


@pytest.mark.browser
def test_the_button_reads_the_info_again_and_the_page_shows_it(
    web: Stack, plant: Plant, installer: Client, simulator: SimulatorHandle, start_worker, tmp_path: Path
):
    # Made before the browser starts: its driver runs an event loop in this thread.
    roof = Inverter.objects.create(
        plant=plant, name="roof", type="plenticore", max_ac_w=10_000, host="127.0.0.1", port=simulator.ports["roof"],
        serial_number="OLD", detected_at=timezone.now(),
    )  # fmt: skip
    start_worker()
    cookie = session_cookie_of(installer, web.base_url)
    with chromium() as browser:
        page = page_as(browser, cookie, locale="en-GB")
        page.goto(web.base_url + "/inverters/")
        page.click(f"[data-testid=inverter-info-{roof.pk}] summary")
        assert page.text_content(f"[data-testid=inverter-serial-{roof.pk}]") == "OLD"
        page.click(f"[data-testid=read-info-{roof.pk}] button")
        page.wait_for_selector(f"[data-testid=inverter-info-job-{roof.pk}][data-state=done]", timeout=30_000)
        assert page.text_content(f"[data-testid=inverter-serial-{roof.pk}]") == serial_number(SEED, "roof")
        assert "KOSTAL PLENTICORE" in (page.text_content(f"[data-testid=inverter-product-{roof.pk}]") or "")
        assert "has been read" in (page.text_content(f"[data-testid=inverter-info-job-{roof.pk}]") or "")
        page.screenshot(path=tmp_path / "inverter-info-read.png", full_page=True)
