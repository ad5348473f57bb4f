"""The wallbox API as a third-party client sees it: gated by the option, field-named errors that
change nothing, operators limited to the charging area."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from energy.config import BatteryUse
from plant.models import Plant
from plant.options import WALLBOX, set_option
from wallbox.models import BATTERY_USE_FIELDS, ChargingSession, MainsSettings, TimeModeSchedule, Wallbox

pytestmark = pytest.mark.django_db


def base(plant: Plant) -> str:
    return f"/api/plants/{plant.pk}"


def saved_box(plant: Plant, name: str = "Carport", **fields) -> Wallbox:
    return Wallbox.objects.create(plant=plant, name=name, interface=fields.pop("interface", "A"), **fields)


def test_without_the_option_every_wallbox_endpoint_is_404(installer: Client, plant: Plant):
    box = saved_box(plant)
    set_option(plant, WALLBOX, active=False)
    for path in ("/wallboxes/", f"/wallboxes/{box.pk}", "/mains", "/charging-sessions", "/phase-switches"):
        assert installer.get(base(plant) + path).status_code == 404, path


def test_needs_authentication(client: Client, plant: Plant):
    assert client.get(base(plant) + "/wallboxes/").status_code in (401, 403)


def test_add_runs_the_setup_and_lists_the_box(installer: Client, plant: Plant, sim_factory):
    sim = sim_factory(b={})
    response = installer.post(base(plant) + "/wallboxes/", {"name": "Carport", "type": "enector_7_4", "interface": "B"},
                              content_type="application/json")  # fmt: skip
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["address"], body["setup"], body["phase_usage"]) == (100, "done", "single")
    assert body["info"]["serial"]
    assert sim.model.wallbox_address("b") == 100
    listed = installer.get(base(plant) + "/wallboxes/").json()
    assert [box["name"] for box in listed["results"]] == ["Carport"]


def test_add_without_an_answer_is_400_and_saves_nothing(installer: Client, plant: Plant, settings):
    settings.KSEM_RS485_PORTS = {"A": "socket://127.0.0.1:9"}
    response = installer.post(base(plant) + "/wallboxes/", {"name": "X", "type": "enector_11", "interface": "A"},
                              content_type="application/json")  # fmt: skip
    assert response.status_code == 400
    assert "No ENECTOR answered" in " ".join(response.json()["non_field_errors"])
    assert not Wallbox.objects.exists()


def test_patch_settings_errors_name_the_field(installer: Client, plant: Plant):
    box = saved_box(plant)
    url = f"{base(plant)}/wallboxes/{box.pk}"
    ok = installer.patch(url, {"rotation": "L3L1L2", "min_current_a": 10}, content_type="application/json")
    assert ok.status_code == 200 and ok.json()["rotation"] == "L3L1L2"
    bad = installer.patch(url, {"rotation": "L1L3L2", "min_current_a": 4}, content_type="application/json")
    assert bad.status_code == 400
    assert set(bad.json()) >= {"rotation", "min_current_a"}
    box.refresh_from_db()
    assert (box.rotation, box.min_current_a) == ("L3L1L2", 10.0)


def test_operator_changes_mode_pause_and_time_mode_but_not_settings(operator: Client, plant: Plant):
    box = saved_box(plant)
    url = f"{base(plant)}/wallboxes/{box.pk}"
    changed = operator.patch(url + "/charging", {"mode": "solar_pure", "battery_use_solar_pure": True},
                             content_type="application/json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["mode"] == "solar_pure"
    assert changed.json()["battery_use_solar_pure"] is True and changed.json()["battery_use_power"] is False
    assert operator.post(url + "/pause").json()["manual_pause"] is True
    assert operator.post(url + "/resume").json()["manual_pause"] is False
    week = [["lock"] * 8 + ["power"] * 16] * 7
    assert operator.put(url + "/time-mode", {"days": week}, content_type="application/json").json() == {"days": week}
    assert operator.patch(url, {"name": "Mine"}, content_type="application/json").status_code == 403
    assert operator.delete(url).status_code == 403
    assert operator.put(base(plant) + "/mains", {"fuse_l1_a": 63}, content_type="application/json").status_code == 403
    box.refresh_from_db()
    assert (box.name, box.mode) == ("Carport", "solar_pure")
    assert not MainsSettings.objects.exists()


def test_the_house_battery_setting_per_mode_and_the_old_single_one(operator: Client, plant: Plant):
    box = saved_box(plant)
    url = f"{base(plant)}/wallboxes/{box.pk}/charging"
    shown = operator.get(url).json()
    assert {k: shown[k] for k in BATTERY_USE_FIELDS} == dict.fromkeys(BATTERY_USE_FIELDS, False)
    assert "battery_use" not in shown
    # An older client's one checkbox sets all three; a mode's own field beside it wins.
    old = operator.patch(url, {"battery_use": True, "battery_use_power": False}, content_type="application/json")
    assert old.status_code == 200
    assert {k: old.json()[k] for k in BATTERY_USE_FIELDS} == {
        "battery_use_power": False, "battery_use_solar_pure": True, "battery_use_solar_plus": True,
    }  # fmt: skip
    box.refresh_from_db()
    assert box.battery_use == BatteryUse(power=False, solar_pure=True, solar_plus=True)
    listed = operator.get(f"{base(plant)}/wallboxes/{box.pk}").json()
    assert (listed["battery_use_power"], listed["battery_use_solar_plus"]) == (False, True)
    bad = operator.patch(url, {"battery_use_solar_plus": "maybe"}, content_type="application/json")
    assert bad.status_code == 400 and "battery_use_solar_plus" in bad.json()
    assert Wallbox.objects.get().battery_use_solar_plus is True


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ([["power"] * 24] * 6, "at least 7"),
        ([["power"] * 23] + [["power"] * 24] * 6, "at least 24"),
        ([["turbo"] + ["power"] * 23] + [["power"] * 24] * 6, "not a valid choice"),
        ("power", "list"),
    ],
)
def test_a_bad_time_mode_week_is_400_and_keeps_the_old_one(operator: Client, plant: Plant, days, message):
    box = saved_box(plant)
    TimeModeSchedule.objects.create(wallbox=box, days=[["lock"] * 24] * 7)
    response = operator.put(f"{base(plant)}/wallboxes/{box.pk}/time-mode", {"days": days},
                            content_type="application/json")  # fmt: skip
    assert response.status_code == 400
    assert "days" in response.json() and message in str(response.json()["days"])
    assert TimeModeSchedule.objects.get(wallbox=box).days == [["lock"] * 24] * 7


def test_bad_charging_values_are_400_and_change_nothing(operator: Client, plant: Plant):
    box = saved_box(plant)
    response = operator.patch(f"{base(plant)}/wallboxes/{box.pk}/charging",
                              {"mode": "fast", "solar_plus_min_share_pct": -5}, content_type="application/json")  # fmt: skip
    assert response.status_code == 400
    assert set(response.json()) >= {"mode", "solar_plus_min_share_pct"}
    box.refresh_from_db()
    assert (box.mode, box.solar_plus_min_share_pct) == ("power", 50.0)


def test_mains_get_and_put(installer: Client, plant: Plant):
    url = base(plant) + "/mains"
    assert installer.get(url).json()["fuse_a"] == 35.0
    response = installer.put(url, {"phases": 1, "fuse_l1_a": 40, "unbalance_limit_va": 3680},
                             content_type="application/json")  # fmt: skip
    assert response.json()["fuse_a"] == 40.0
    bad = installer.put(url, {"phases": 2, "fuse_l2_a": 2000}, content_type="application/json")
    assert bad.status_code == 400 and set(bad.json()) == {"phases", "fuse_l2_a"}
    assert MainsSettings.objects.get().phases == 1


def test_live_status_and_sessions(operator: Client, plant: Plant):
    import datetime as dt

    from wallbox.tests.test_pages import PAUSED_BY_CLOUDS, publish_box

    box = saved_box(plant)
    publish_box(plant, PAUSED_BY_CLOUDS)
    body = operator.get(f"{base(plant)}/wallboxes/{box.pk}").json()
    assert body["status"] == "ok"
    assert body["live"]["reason"].startswith("cloud hysteresis")
    assert body["live"]["timers"] == [{"name": "resume", "seconds_left": 312.0}]
    start = dt.datetime(2026, 7, 1, 10, tzinfo=dt.UTC)
    ChargingSession.objects.create(plant=plant, wallbox_name="Carport", started=start,
                                   ended=start + dt.timedelta(hours=1), energy_wh=8000, solar_wh=6000)  # fmt: skip
    sessions = operator.get(base(plant) + "/charging-sessions").json()["results"]
    assert (sessions[0]["duration_s"], sessions[0]["solar_share_pct"]) == (3600.0, 75.0)


def test_firmware_upload_over_the_api_with_the_pages_roles(
    installer: Client, operator: Client, plant: Plant, sim_factory
):
    from simulator.enector_firmware import firmware_image

    sim_factory(a={"address": 100})
    box = saved_box(plant, address=100)
    url = base(plant) + f"/wallboxes/{box.pk}/firmware"
    image = firmware_image("2025.40.1", b"x" * 2000)
    assert operator.post(url, {"firmware": io.BytesIO(image)}).status_code == 403, "the installer's, as on the page"
    assert installer.post(url, {}).json() == {"firmware": ["Send the firmware file as multipart field 'firmware'."]}
    upload = io.BytesIO(image)
    upload.name = "enector.bin"
    response = installer.post(url, {"firmware": upload})
    assert response.status_code == 202, response.json()
    body = installer.get(url).json()
    assert (body["state"], body["progress_pct"], body["firmware_version"]) == ("done", 100.0, "2025.40.1")
    assert "simulated ENECTOR only" in body["note"]
