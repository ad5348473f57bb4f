"""The device page and its API (DEV-1, DEV-2, DEV-5, DEV-7, DEV-8): real figures of this machine,
settings stored with the same checks on page and API, and only installers change anything."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from device.models import DeviceSettings
from modbus.models import SerialInterface
from plant.models import Plant
from portal.models import Membership
from tests.pages import by_testid
from updates.version import VERSION

pytestmark = pytest.mark.django_db

NETWORK = {"host_name": "ksem-g2", "addressing": "static", "address": "192.168.1.20", "netmask": "255.255.255.0",
           "gateway": "192.168.1.1", "dns": "192.168.1.1 9.9.9.9"}  # fmt: skip


@pytest.fixture
def plant() -> Plant:
    return Plant.objects.create(name="Home")


@pytest.fixture
def operator_client(client: Client, plant: Plant) -> Client:
    user = get_user_model().objects.create_user("otto", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role="operator")
    client.force_login(user)
    return client


def test_the_page_shows_this_machine(user_client: Client, plant: Plant):
    page = user_client.get("/device/").content.decode()
    assert by_testid(page, "host-name")[0] == socket.gethostname()
    assert by_testid(page, "serial-number")[0] == plant.serial_number
    assert by_testid(page, "version")[0] == VERSION
    cpu = float(by_testid(page, "host-cpu")[0].split(" %")[0])
    assert 0.0 <= cpu <= 100.0
    uptime_s = float(by_testid(page, "uptime")[1]["data-uptime-s"])
    with open("/proc/uptime") as source:  # the kernel's own figure
        assert abs(uptime_s - float(source.read().split()[0])) < 5
    # This very process (the test run) is one of the product's processes.
    assert f"<td>{__import__('os').getpid()}</td>" in page
    assert "menu-device" in page and 'href="/device/"' in page
    # The default gateway as `ip route` reports it, the name servers of resolv.conf.
    route = subprocess.run(["ip", "route", "show", "default"], capture_output=True, text=True).stdout.split()
    assert by_testid(page, "host-gateway")[0] == (route[route.index("via") + 1] if "via" in route else "–")
    with open("/etc/resolv.conf") as source:
        servers = [line.split()[1] for line in source if line.startswith("nameserver")]
    assert by_testid(page, "host-dns")[0] == (", ".join(servers) or "–")


def test_the_api_measures_cpu_of_a_busy_product_process(user_client: Client, plant: Plant):
    import threading

    done = threading.Event()

    def spin() -> None:
        while not done.is_set():
            pass

    worker = threading.Thread(target=spin)
    worker.start()
    try:
        body = user_client.get("/api/v1/device/system").json()
    finally:
        done.set()
        worker.join()
    assert body["host_name"] == socket.gethostname() and body["serial_number"] == plant.serial_number
    me = next(p for p in body["processes"] if p["pid"] == __import__("os").getpid())
    assert me["cpu_percent"] > 20, me  # this process spun a core while it was measured
    assert body["memory_total_mb"] > 0 and body["product_rss_mb"] >= me["rss_mb"]
    names = {i["name"] for i in body["interfaces"]}
    assert "lo" in names


def test_network_settings_are_stored_and_the_page_says_they_are_not_applied(user_client: Client, plant: Plant):
    response = user_client.post("/device/network/", NETWORK)  # UPnP box not ticked
    assert response.status_code == 302
    row = DeviceSettings.load()
    assert row.upnp_enabled is False
    assert (row.addressing, row.address, row.netmask, row.dns) == ("static", "192.168.1.20", "255.255.255.0",
                                                                   ["192.168.1.1", "9.9.9.9"])  # fmt: skip
    page = user_client.get("/device/").content.decode()
    assert "not applied to the host" in by_testid(page, "network-not-applied")[0]
    assert user_client.get("/api/v1/device/network").json()["applied"] is False
    assert user_client.post("/device/network/", {**NETWORK, "upnp_enabled": "on"}).status_code == 302
    assert DeviceSettings.load().upnp_enabled is True


def test_a_bad_network_setting_is_refused_on_page_and_api_and_changes_nothing(user_client: Client, plant: Plant):
    response = user_client.post("/device/network/", {**NETWORK, "gateway": "10.0.0.1"})
    assert response.status_code == 400
    error = by_testid(response.content.decode(), "error-gateway")[0]
    assert "10.0.0.1" in error and "192.168.1.0/24" in error
    api = user_client.put("/api/v1/device/network", {**NETWORK, "dns": ["1.1.1.1"], "netmask": "255.0.255.0"},
                          content_type="application/json")  # fmt: skip
    assert api.status_code == 400 and "netmask" in api.json()
    assert DeviceSettings.load().addressing == "dhcp"


def test_time_settings_and_the_time_from_the_browser(user_client: Client, plant: Plant):
    assert user_client.post("/device/time/", {"time_zone": "America/New_York", "ntp_enabled": "on",
                                              "ntp_server": "ptb.de"}).status_code == 302  # fmt: skip
    row = DeviceSettings.load()
    assert (row.time_zone, row.ntp_enabled, row.ntp_server) == ("America/New_York", True, "ptb.de")
    bad = user_client.post("/device/time/", {"time_zone": "Europe/Nowhere", "ntp_server": "x"})
    assert bad.status_code == 400 and DeviceSettings.load().time_zone == "America/New_York"
    # A browser 2 hours ahead: the device time follows it, NTP goes off, the host clock stays.
    ahead_ms = (time.time() + 7200) * 1000
    assert user_client.post("/device/time/browser/", {"browser_time_ms": str(ahead_ms)}).status_code == 302
    body = user_client.get("/api/v1/device/time").json()
    assert body["ntp_enabled"] is False and 7190 < body["clock_offset_s"] < 7210
    page = user_client.get("/device/").content.decode()
    assert by_testid(page, "clock-offset")[0].startswith("7")
    host_time = dt.datetime.fromisoformat(body["host_time"].replace("Z", "+00:00"))
    assert abs(host_time.timestamp() - time.time()) < 5  # the host clock did not move
    refused = user_client.post("/api/v1/device/time/set", {"browser_time_ms": "soon"}, content_type="application/json")
    assert refused.status_code == 400 and "browser_time_ms" in refused.json()
    # NTP on again: the offset is dropped.
    user_client.put("/api/v1/device/time", {"time_zone": "UTC", "ntp_enabled": True, "ntp_server": "pool.ntp.org"},
                    content_type="application/json")  # fmt: skip
    assert DeviceSettings.load().clock_offset_s == 0.0


def test_rs485_status_names_the_application_holding_each_line(user_client: Client, plant: Plant):
    page = user_client.get("/device/").content.decode()
    assert by_testid(page, "rs485-A-application")[0].startswith("Modbus RTU")
    SerialInterface.objects.filter(name="B").update(held_by="wallbox Garage", enabled=False)
    page = user_client.get("/device/").content.decode()
    assert by_testid(page, "rs485-B-application")[0] == "wallbox Garage"
    assert {line["name"]: line["application"] for line in user_client.get("/api/v1/device/rs485").json()}[
        "B"
    ] == "wallbox Garage"


def test_without_a_supervisor_the_page_says_the_service_manager_restarts(user_client: Client, plant: Plant, settings,
                                                                         tmp_path):  # fmt: skip
    settings.VAR_DIR = tmp_path
    page = user_client.get("/device/").content.decode()
    assert "service manager" in by_testid(page, "restart-unavailable")[0]
    response = user_client.post("/device/restart/", {"confirm": "on"})
    assert response.status_code == 409 and "supervisor" in response.content.decode()
    assert user_client.post("/api/v1/device/restart", {}, content_type="application/json").status_code == 400


def test_the_page_warns_that_wallboxes_keep_address_100(user_client: Client, plant: Plant):
    page = user_client.get("/device/").content.decode()
    assert "address 100" in by_testid(page, "wallbox-address-warning")[0]


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("post", "/device/network/", NETWORK),
        ("post", "/device/time/", {"time_zone": "UTC", "ntp_server": "pool.ntp.org"}),
        ("post", "/device/time/browser/", {"browser_time_ms": "1"}),
        ("post", "/device/restart/", {"confirm": "on"}),
        ("post", "/device/reset/", {"confirmation": "RESET"}),
        ("get", "/device/logs/?start=2026-01-01T00:00&end=2026-01-02T00:00", None),
        ("put", "/api/v1/device/network", {**NETWORK, "dns": ["1.1.1.1"]}),
        ("put", "/api/v1/device/time", {"time_zone": "UTC", "ntp_enabled": False}),
        ("post", "/api/v1/device/time/set", {"browser_time_ms": 1}),
        ("post", "/api/v1/device/restart", {"confirm": True}),
        ("post", "/api/v1/device/factory-reset", {"confirmation": "RESET"}),
        ("get", "/api/v1/device/logs?start=2026-01-01T00:00&end=2026-01-02T00:00", None),
    ],
)
def test_an_operator_can_read_but_not_change_restart_reset_or_read_logs(
    operator_client: Client, plant: Plant, method: str, url: str, data: Any
):
    if url.startswith("/api/"):
        response = getattr(operator_client, method)(url, data, content_type="application/json")
    else:
        response = getattr(operator_client, method)(url, data) if data is not None else operator_client.get(url)
    assert response.status_code == 403, (url, response.status_code)
    assert DeviceSettings.objects.filter(addressing="static").count() == 0
    assert DeviceSettings.objects.filter(clock_offset_s__gt=1).count() == 0
    assert Plant.objects.filter(pk=plant.pk).exists()
    page = operator_client.get("/device/")
    assert page.status_code == 200 and "reset-button" not in page.content.decode()
    assert operator_client.get("/api/v1/device/system").status_code == 200


def test_processes_of_another_installation_are_not_counted(user_client: Client, plant: Plant, tmp_path):
    from django.conf import settings

    def start(cwd) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "manage.py"], cwd=cwd)

    ours, theirs = start(settings.BASE_DIR), start(tmp_path)
    try:
        pids = {p["pid"] for p in user_client.get("/api/v1/device/system").json()["processes"]}
    finally:
        for process in (ours, theirs):
            process.kill()
            process.wait()
    assert ours.pid in pids and theirs.pid not in pids
