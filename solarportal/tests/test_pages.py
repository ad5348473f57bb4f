"""The Solar portal page, the built-in portal's page and the API as people and clients see them:
installers change, operators read, bad input is refused with the field named and changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from plant.models import Plant
from solarportal import report as r
from solarportal import services, tasks
from solarportal.models import OutboxReport, PortalPlant, ReceivedReport, Uplink
from solarportal.tests.conftest import CREDENTIAL, Receiver, register, write_log

pytestmark = pytest.mark.django_db(transaction=True)
URL = "https://portal.example.com/solarportal/receive/"


def page(client: Client, plant: Plant) -> str:
    response = client.get("/solarportal/", {"plant": plant.pk})
    assert response.status_code == 200
    return response.content.decode()


def test_menu_entry_and_status_before_anything_was_sent(installer: Client, plant: Plant) -> None:
    html = page(installer, plant)
    assert 'data-testid="menu-solarportal"' in html
    assert f'data-testid="serial-number">{plant.serial_number}<' in html
    assert 'data-testid="article-number">EMG2-0001<' in html
    assert 'data-testid="last-request">-<' in html and 'data-testid="machine-id">-<' in html


def test_the_installer_switches_on_and_it_takes_effect_on_save(installer: Client, plant: Plant) -> None:
    response = installer.post(
        f"/solarportal/?plant={plant.pk}", {"enabled": "on", "endpoint_url": URL, "credential": CREDENTIAL}
    )
    assert response.status_code == 302
    row = Uplink.objects.get(plant=plant)
    assert row.enabled and row.endpoint_url == URL and services.credential(row) == CREDENTIAL
    assert row.next_interval == r.interval_start(timezone.now())
    html = page(installer, plant)
    assert 'data-testid="uplink-enabled">on<' in html and 'data-testid="credential-set"' in html
    assert CREDENTIAL not in html
    # Saving again without a credential keeps the stored one.
    installer.post(f"/solarportal/?plant={plant.pk}", {"enabled": "", "endpoint_url": URL, "credential": ""})
    row.refresh_from_db()
    assert not row.enabled and services.credential(row) == CREDENTIAL


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"enabled": "on", "endpoint_url": "http://portal.example.com/", "credential": CREDENTIAL}, "endpoint_url",
         "only to this machine"),
        ({"enabled": "on", "endpoint_url": "", "credential": CREDENTIAL}, "form", "endpoint URL before"),
        ({"enabled": "on", "endpoint_url": URL, "credential": ""}, "form", "credential the portal issued"),
        ({"enabled": "on", "endpoint_url": URL, "credential": "short"}, "credential", "16 to 128 characters"),
    ],
)  # fmt: skip
def test_bad_settings_are_refused_and_change_nothing(
    installer: Client, plant: Plant, data: dict[str, str], field: str, message: str
) -> None:
    response = installer.post(f"/solarportal/?plant={plant.pk}", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert (f'data-testid="error-{field}"' if field != "form" else 'data-testid="form-error"') in html
    assert message in html
    assert not Uplink.objects.filter(plant=plant, enabled=True).exists()


def test_an_operator_reads_but_may_not_change(operator: Client, plant: Plant) -> None:
    html = page(operator, plant)
    assert 'data-testid="read-only"' in html
    response = operator.post(
        f"/solarportal/?plant={plant.pk}", {"enabled": "on", "endpoint_url": URL, "credential": CREDENTIAL}
    )
    assert response.status_code == 403
    assert not Uplink.objects.filter(plant=plant, enabled=True).exists()


def test_clock_warning_on_the_page(installer: Client, plant: Plant) -> None:
    from meter.models import MeterLog

    MeterLog.objects.create(plant=plant, start=timezone.now() + dt.timedelta(hours=2), samples=300)
    html = page(installer, plant)
    assert 'data-testid="clock-warning"' in html and "in the future" in html


# ---- API ---------------------------------------------------------------------------------------


def test_api_reads_and_the_installer_changes(installer: Client, operator: Client, plant: Plant) -> None:
    path = f"/api/v1/plants/{plant.pk}/solarportal"
    body = operator.get(path).json()
    assert body["enabled"] is False and body["serial_number"] == plant.serial_number
    assert body["article_number"] == "EMG2-0001" and body["last_request"] is None and body["warnings"] == []
    refused = operator.put(path, {"enabled": True}, content_type="application/json")
    assert refused.status_code == 403
    changed = installer.put(
        path, {"enabled": True, "endpoint_url": URL, "credential": CREDENTIAL}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["enabled"] is True and changed.json()["credential_set"] is True
    assert "credential" not in changed.json()
    off = installer.patch(path, {"enabled": False}, content_type="application/json")
    assert off.json()["enabled"] is False and off.json()["endpoint_url"] == URL


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"endpoint_url": "http://10.0.0.1/r"}, "endpoint_url", "only to this machine"),
        ({"enabled": True}, "enabled", "endpoint URL before"),
        ({"enabled": True, "endpoint_url": URL}, "enabled", "credential the portal issued"),
        ({"credential": "x" * 200}, "credential", "no more than 128"),
        ({"enabled": "perhaps"}, "enabled", "valid boolean"),
    ],
)
def test_api_refuses_bad_input_naming_the_field(
    installer: Client, plant: Plant, data: dict[str, object], field: str, message: str
) -> None:
    response = installer.put(f"/api/v1/plants/{plant.pk}/solarportal", data, content_type="application/json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not Uplink.objects.filter(plant=plant).exclude(endpoint_url="").exists()


def test_api_of_another_plant_is_refused(operator: Client) -> None:
    other = Plant.objects.create(name="Neighbour")
    assert operator.get(f"/api/v1/plants/{other.pk}/solarportal").status_code == 403


# ---- the built-in portal -------------------------------------------------------------------------


def test_register_a_plant_and_see_its_reports(installer: Client, plant: Plant, portal_receiver: Receiver) -> None:
    response = installer.post("/solarportal/portal/register/", {"serial_number": plant.serial_number.lower(),
                                                                 "article_number": "EMG2-0001", "name": "Home"})  # fmt: skip
    assert response.status_code == 302
    shown = installer.get("/solarportal/portal/")
    html = shown.content.decode()
    registered = PortalPlant.objects.get(serial_number=plant.serial_number)
    assert "shown this once" in html and registered.machine_id in html
    credential = html.split("shown this once): ")[1].split("<")[0].strip()

    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=2)
    write_log(plant, t0, t0 + r.INTERVAL)
    services.save_settings(plant, enabled=True, endpoint_url=portal_receiver.url, credential=credential, now=t0)
    services.queue_reports(t0 + r.INTERVAL + services.GRACE)
    assert services.deliver(plant.pk, t0 + r.INTERVAL + services.GRACE) == 1

    html = installer.get("/solarportal/portal/", {"serial": plant.serial_number}).content.decode()
    assert f'data-report="{r.report_id(plant.serial_number, t0)}"' in html
    assert f'data-testid="count-{plant.serial_number}">1<' in html
    assert "250.0" in html  # grid import of the interval in Wh
    assert f'data-testid="machine-id">{registered.machine_id}<' in page(installer, plant)


def test_bad_registration_is_refused(installer: Client) -> None:
    response = installer.post("/solarportal/portal/register/", {"serial_number": "no good!", "credential": "short"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-testid="error-serial_number"' in html and 'data-testid="error-credential"' in html
    assert not PortalPlant.objects.exists()


def test_only_installers_of_every_plant_register(operator: Client) -> None:
    response = operator.post("/solarportal/portal/register/", {"serial_number": "KSEM-1234"})
    assert response.status_code == 403
    assert not PortalPlant.objects.exists()


def test_the_receiving_endpoint_answers_get_with_405_and_non_xml_with_415(client: Client) -> None:
    assert client.get("/solarportal/receive/").status_code == 405
    response = client.post("/solarportal/receive/", {"a": "b"})
    assert response.status_code == 415 and b"application/xml" in response.content
    big = client.post("/solarportal/receive/", b"<" * (r.MAX_BYTES + 10), content_type="application/xml")
    assert big.status_code == 413
    assert ReceivedReport.objects.count() == 0


# ---- the Celery jobs ----------------------------------------------------------------------------


def test_the_beat_tick_queues_and_the_delivery_task_sends(plant: Plant, portal_receiver: Receiver) -> None:
    register(plant)
    t0 = r.interval_start(timezone.now()) - dt.timedelta(hours=1)
    write_log(plant, t0, t0 + dt.timedelta(minutes=45))
    services.save_settings(plant, enabled=True, endpoint_url=portal_receiver.url, credential=CREDENTIAL, now=t0)
    due = tasks.tick.apply().get()  # the real clock: three intervals are complete
    assert due == [plant.pk] and OutboxReport.objects.filter(plant=plant).count() >= 3
    assert tasks.deliver.apply(args=(plant.pk,)).get() >= 3
    assert ReceivedReport.objects.count() == OutboxReport.objects.filter(sent_at__isnull=False).count() >= 3


def test_superuser_sees_the_page(plant: Plant) -> None:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="Secret-Pass-1"))
    assert 'data-testid="register-form"' in client.get("/solarportal/portal/").content.decode()


def test_the_page_speaks_german(installer: Client, plant: Plant) -> None:
    html = installer.get("/solarportal/", {"plant": plant.pk}, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Solarportal aktivieren" in html and "Artikelnummer" in html and "Letzte Anfrage" in html
