"""The Modbus settings over the API and the page: RS485, targets, certificates, map, export/import (MB-1..MB-5)."""

from __future__ import annotations

import asyncio
import json
import ssl
import struct

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

import redisconn
from energy import snapshot
from modbus import services
from modbus.models import ClientCertificate, MasterTarget, SerialInterface
from modbus.slave.server import ModbusSlave
from modbus.tests.conftest import make_state, meter_of
from modbus.tests.test_slave_tls import READ, client_certificate, client_context, request
from modbus.wallbox_control import WallboxControls
from plant import live
from plant.models import Plant

pytestmark = pytest.mark.django_db


def test_settings_get_and_put(user_client):
    data = user_client.get(reverse("api-modbus-settings")).json()
    assert data["slave_enabled"] is True and data["tls_enabled"] is False
    response = user_client.put(
        reverse("api-modbus-settings"), {"tls_enabled": True, "push_interval_s": 0}, content_type="application/json"
    )
    assert response.status_code == 400 and "push_interval_s" in response.json()
    response = user_client.put(reverse("api-modbus-settings"), {"tls_enabled": True}, content_type="application/json")
    assert response.status_code == 200 and services.get_settings().tls_enabled


def test_the_api_needs_a_login(client):
    assert client.get(reverse("api-modbus-settings")).status_code == 401


def test_rs485_defaults_presets_and_validation(user_client, settings):
    settings.RS485_A_DEVICE = "/dev/ttyAMA0"
    rows = user_client.get(reverse("api-modbus-serial-interfaces")).json()["results"]
    a, b = rows
    assert (a["name"], a["preset"], a["mode"], a["address"], a["baudrate"], a["bytesize"], a["parity"], a["stopbits"]) == (
        "A", "plenticore", "slave", 1, 38400, 8, "N", 2,
    )  # fmt: skip
    assert a["default_device"] == "/dev/ttyAMA0" and a["device"] == ""
    assert (b["preset"], b["address"], b["baudrate"], b["parity"], b["stopbits"]) == (
        "piko_mp_plus",
        247,
        19200,
        "E",
        1,
    )
    url = reverse("api-modbus-serial-interface", args=["A"])
    # Choosing a preset sets its line settings.
    data = user_client.put(url, {"preset": "piko_ci"}, content_type="application/json").json()
    assert (data["baudrate"], data["stopbits"], data["address"]) == (19200, 2, 1)
    # Other settings make it user-defined.
    data = user_client.put(url, {"address": 2, "baudrate": 57600}, content_type="application/json").json()
    assert data["preset"] == "user"
    for bad in (
        {"address": 0},
        {"address": 248},
        {"baudrate": 12345},
        {"parity": "X"},
        {"bytesize": 9},
        {"stopbits": 3},
    ):
        response = user_client.put(url, bad, content_type="application/json")
        assert response.status_code == 400 and next(iter(bad)) in response.json(), bad


def test_an_interface_given_to_an_application_is_not_served_and_says_so(user_client):
    with pytest.raises(services.InterfaceBusy):
        services.hold_interface("B", "wallbox")
    SerialInterface.objects.filter(name="B").update(enabled=False)
    services.hold_interface("B", "wallbox")
    url = reverse("api-modbus-serial-interface", args=["B"])
    response = user_client.put(url, {"enabled": True}, content_type="application/json")
    assert response.status_code == 400 and "wallbox" in response.json()["enabled"][0]
    assert all(port.name != "B" for port in services.load_slave_config().serial)
    page = user_client.get(reverse("modbus:settings")).content.decode()
    assert 'data-testid="rs485-B-held"' in page and "wallbox" in page


def test_at_most_ten_targets_with_status(user_client):
    url = reverse("api-modbus-targets")
    for n in range(10):
        assert user_client.post(url, {"host": f"10.0.0.{n + 1}", "port": 502}).status_code == 201
    response = user_client.post(url, {"host": "10.0.0.99"})
    assert response.status_code == 400
    assert user_client.post(url, {"host": "not a host!"}).status_code == 400
    first = MasterTarget.objects.first()
    assert first is not None
    services.write_target_statuses(
        {first.pk: services.TargetStatus(last_error="no answer within 0.5 s", last_error_at=1.0)}
    )
    rows = user_client.get(url).json()["results"]
    assert rows[0]["last_error"] == "no answer within 0.5 s" and rows[0]["last_success"] is None


def test_export_import_round_trip_and_bad_files_change_nothing(user_client):
    MasterTarget.objects.create(host="192.168.1.20", port=1502, unit_id=3)
    ClientCertificate.objects.create(fingerprint="ab" * 32, subject="CN=ems", status="accepted")
    exported = user_client.get(reverse("api-modbus-config")).json()
    assert exported["format"] == "ksem-modbus-config" and len(exported["serial_interfaces"]) == 2

    changed = json.loads(json.dumps(exported))
    changed["settings"]["master_enabled"] = True
    changed["targets"].append({"host": "plc.local", "port": 502, "unit_id": 1, "enabled": True})
    response = user_client.post(reverse("api-modbus-config"), changed, content_type="application/json")
    assert response.status_code == 200, response.json()
    assert MasterTarget.objects.count() == 2 and services.get_settings().master_enabled

    before = user_client.get(reverse("api-modbus-config")).json()
    bad_files = {
        b"not json": "not a JSON document",
        json.dumps({"hello": 1}).encode(): "not a Modbus configuration file",
        json.dumps({**before, "version": 9}).encode(): "version 9",
        json.dumps({**before, "targets": [{**before["targets"][0], "port": 70000}]}).encode(): "targets[0].port",
        json.dumps({**before, "settings": {**before["settings"], "colour": "red"}}).encode(): "unknown key colour",
        json.dumps({**before, "serial_interfaces": before["serial_interfaces"][:1]}).encode(): "RS485 A and B",
        json.dumps(
            {
                **before,
                "serial_interfaces": [
                    {**before["serial_interfaces"][0], "address": 300},
                    before["serial_interfaces"][1],
                ],
            }
        ).encode(): "serial_interfaces[0].address",
        json.dumps(
            {**before, "certificates": [{"fingerprint": "xyz", "subject": "", "status": "accepted"}]}
        ).encode(): ("certificates[0].fingerprint"),
    }
    for raw, message in bad_files.items():
        upload = SimpleUploadedFile("modbus.json", raw, content_type="application/json")
        response = user_client.post(reverse("api-modbus-config"), {"file": upload})
        assert response.status_code == 400 and message in response.json()["detail"], (message, response.json())
        assert user_client.get(reverse("api-modbus-config")).json() == before


def test_page_shows_the_map_as_served_now_and_imports_with_a_message(user_client):
    plant = Plant.objects.create(name="Home")
    state = make_state(plant_id=plant.pk)
    redisconn.sync_redis().set(live.state_key(plant.pk), snapshot.to_json(state))
    page = user_client.get(reverse("modbus:settings"))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="map-value-512"' in html
    rows = {row["name"]: row for row in user_client.get(reverse("api-modbus-map"), {"limit": "1000"}).json()["results"]}
    assert rows["energy_active_import_wh"]["value"] == f"{state.totals.active_import_wh:.1f}"
    assert rows["voltage_l1"]["value"] == "229.500" and rows["voltage_l1"]["scale"] == "0.001"
    assert float(rows["WphA"]["value"]) == pytest.approx(meter_of(state).phases[0].active_power_w, abs=1)
    assert rows["Mn"]["value"] == "KOSTAL" and rows["PPV"]["value"] == "n/a"
    upload = SimpleUploadedFile("modbus.json", b"{}", content_type="application/json")
    response = user_client.post(reverse("modbus:import"), {"file": upload})
    assert response.status_code == 400
    assert "not a Modbus configuration file" in response.content.decode()


def test_page_forms_save(user_client):
    response = user_client.post(reverse("modbus:slave"), {"slave_enabled": "on", "tls_enabled": "on", "plant": ""})
    assert response.status_code == 302 and services.get_settings().tls_enabled
    response = user_client.post(reverse("modbus:add-target"), {"host": "10.1.1.1", "port": "502", "unit_id": "1"})
    assert response.status_code == 302 and MasterTarget.objects.count() == 1
    data = {f"rs485-A-{k}": v for k, v in {"enabled": "on", "device": "", "preset": "plenticore", "mode": "slave",
            "address": "0", "baudrate": "38400", "bytesize": "8", "parity": "N", "stopbits": "2"}.items()}  # fmt: skip
    response = user_client.post(reverse("modbus:serial", args=["A"]), data)
    assert response.status_code == 400 and 'data-testid="error-rs485-A-address"' in response.content.decode()


def test_wallbox_commands_are_handed_on_through_redis():
    assert services.read_wallbox_command(5) is None
    assert services.store_wallbox_command(5, WallboxControls(mode="pv", current_limit_a=10.0), "modbus-tls")
    command = services.read_wallbox_command(5)
    assert command is not None
    assert command["mode"] == "pv" and command["current_limit_a"] == 10.0 and command["source"] == "modbus-tls"
    assert services.load_wallbox_controls(5) == WallboxControls(mode="pv", current_limit_a=10.0)


@pytest.mark.django_db(transaction=True)
async def test_tls_trust_through_the_api_with_the_real_backend(tmp_path):
    """The whole path: handshake records the certificate, the API accepts and deletes it."""

    def setup() -> tuple[Client, int]:
        from django.contrib.auth import get_user_model

        plant = Plant.objects.create(name="TLS")
        modbus_settings = services.get_settings()
        modbus_settings.tls_enabled = True
        modbus_settings.save()
        client = Client()
        client.force_login(get_user_model().objects.create_user("installer", password="Secret-Pass-1"))
        redisconn.sync_redis().set(live.state_key(plant.pk), snapshot.to_json(make_state(plant_id=plant.pk)))
        return client, plant.pk

    client, _plant_id = await asyncio.to_thread(setup)
    slave = ModbusSlave(services.ServiceBackend(), tcp_port=0, tls_port=0, tls_dir=tmp_path, poll_s=0.05)
    await slave.start()
    assert slave.tls is not None
    try:
        cert, key, fingerprint = client_certificate(tmp_path, "scada")
        reader, writer = await asyncio.open_connection("127.0.0.1", slave.tls.port, ssl=client_context(cert, key))
        assert await request(reader, writer, READ) == bytes([0x83, 0x01])
        await asyncio.sleep(0.3)
        rows = (await asyncio.to_thread(client.get, reverse("api-modbus-certificates"))).json()["results"]
        assert [(r["fingerprint"], r["status"], r["subject"]) for r in rows] == [(fingerprint, "pending", "CN=scada")]
        pk = rows[0]["id"]
        await asyncio.to_thread(client.post, reverse("api-modbus-certificate-accept", args=[pk]))
        await asyncio.sleep(0.4)
        assert (await request(reader, writer, READ))[:2] == bytes([3, 4])
        write = struct.pack(">HHHBBHH", 5, 0, 6, 1, 6, 0xB000, 1)
        assert (await request(reader, writer, write))[:1] == bytes([6])
        command = await asyncio.to_thread(services.read_wallbox_command, _plant_id)
        assert command is not None
        assert command["mode"] == "grid"
        await asyncio.to_thread(client.delete, reverse("api-modbus-certificate", args=[pk]))
        assert await asyncio.wait_for(reader.read(100), 1.0) == b""
        writer.close()
    except ssl.SSLError:
        raise
    finally:
        await slave.stop()


def test_the_page_speaks_german(user_client):
    page = user_client.get(reverse("modbus:settings"), HTTP_ACCEPT_LANGUAGE="de")
    html = page.content.decode()
    assert page.status_code == 200 and "Registerbelegung" in html and "Modbus-TCP-Slave" in html
