"""A plant with its 5-minute log, people with roles, and the real receiving endpoint (this project's
WSGI application) served on a loopback port in a thread, with a switch that takes it down."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from django.contrib.auth import get_user_model
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from django.utils import translation

from meter.models import EnergyRecord, MeterLog
from plant.models import Plant
from portal.models import Membership
from solarportal import receiver
from solarportal.models import PortalPlant

CREDENTIAL = "plant-credential-0123456789"


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    """A page asked for in German leaves German active in this thread; each test starts in English."""
    with translation.override("en"):
        yield


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


def _person(name: str, plant: Plant, role: str) -> Client:
    user = get_user_model().objects.create_user(name, password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def installer(plant: Plant) -> Client:
    return _person("installer", plant, Membership.Role.INSTALLER)


@pytest.fixture
def operator(plant: Plant) -> Client:
    return _person("operator", plant, Membership.Role.OPERATOR)


def write_log(plant: Plant, start: dt.datetime, end: dt.datetime, gaps: Iterable[dt.datetime] = ()) -> None:
    """The cycle's 5-minute log and energy records for [start, end): 1 kW from the grid, 2 kW PV."""
    gap_starts = set(gaps)
    moment = start
    imported = 1000.0
    while moment < end:
        if moment in gap_starts:
            MeterLog.objects.create(plant=plant, start=moment, samples=0, gap=True)
        else:
            MeterLog.objects.create(
                plant=plant, start=moment, samples=300, grid_power_w=1000.0, pv_power_w=2000.0,
                frequency_hz=50.0, voltage_l1_v=230.0,
            )  # fmt: skip
        imported += 1000.0 * 5 / 60
        EnergyRecord.objects.create(
            plant=plant, time=moment + dt.timedelta(minutes=5), active_import_wh=imported, active_export_wh=10.0,
            reactive_import_varh=0.0, reactive_export_varh=0.0, apparent_import_vah=imported, apparent_export_vah=10.0,
        )  # fmt: skip
        moment += dt.timedelta(minutes=5)
    EnergyRecord.objects.get_or_create(
        plant=plant, time=start,
        defaults={"active_import_wh": 1000.0, "active_export_wh": 10.0, "reactive_import_varh": 0.0,
                  "reactive_export_varh": 0.0, "apparent_import_vah": 1000.0, "apparent_export_vah": 10.0},
    )  # fmt: skip


def _discard(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], object]:
    return lambda data: None


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver:
    """The portal's receiving endpoint on 127.0.0.1:<free port>. ``mode``: "up"; "down" (503
    without reaching the portal); "captive" (200 with a web page); "ack-lost" (the portal stores, the answer is lost: 502)."""

    def __init__(self) -> None:
        self.mode = "up"
        self.requests = 0
        self._django = WSGIHandler()
        self.server: WSGIServer = make_server("127.0.0.1", 0, self._app, handler_class=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/solarportal/receive/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.requests += 1
        if self.mode == "down":
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"maintenance\n"]
        if self.mode == "captive":  # a hotel's or proxy's page: 200, but not the portal
            start_response("200 OK", [("Content-Type", "text/html")])
            return [b"<html><body>Please log in to the Wi-Fi</body></html>"]
        if self.mode == "ack-lost":
            result = self._django(environ, _discard)
            b"".join(result)
            result.close()
            start_response("502 Bad Gateway", [("Content-Type", "text/plain")])
            return [b"upstream went away\n"]
        return self._django(environ, start_response)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)


@pytest.fixture
def portal_receiver(transactional_db: None) -> Iterator[Receiver]:
    running = Receiver()
    try:
        yield running
    finally:
        running.close()


def register(plant: Plant, credential: str = CREDENTIAL) -> PortalPlant:
    row, _ = receiver.register(plant.serial_number, "EMG2-0001", plant.name, credential)
    return row
