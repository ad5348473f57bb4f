"""Factory reset (DEV-8): no user data is left, the serial number stays, and the device account
logs in with the new initial password printed on the console, from the command and from the page."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from access.models import AccessToken
from access.services import create_token
from device import reset
from device.models import DeviceSettings
from meter.models import Meter
from plant import live
from plant.models import Plant
from plant.tests.test_dashboard_page import make_state
from portal.models import Membership
from portal.services import DEVICE_USERNAME, ensure_device_user
from tests.pages import publish

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD_LINE = re.compile(r"New initial device password for 'installer':\s+(\S+)")


@pytest.fixture(autouse=True)
def _jobs_run_here(settings: Any, tmp_path: Path) -> Iterator[None]:
    from ksem_site.celery import app
    from plant import jobs  # noqa: F401 - registers the task

    settings.VAR_DIR = tmp_path
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def _user_data() -> tuple[Plant, str]:
    """A plant in use: a meter, people with roles and tokens, device settings, a backup file."""
    plant = Plant.objects.create(name="Home")
    Meter.objects.create(plant=plant, host="192.0.2.10")
    ensure_device_user()
    user = get_user_model().objects.create_user("olga", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role="operator")
    installer = get_user_model().objects.get(username=DEVICE_USERNAME)
    create_token(name="ha", role="admin", expires_on=dt.date.today() + dt.timedelta(days=30), user=installer)
    assert AccessToken.objects.exists()
    DeviceSettings.objects.create(pk=1, addressing="static", address="192.168.1.20", netmask="255.255.255.0",
                                  gateway="192.168.1.1", dns=["192.168.1.1"])  # fmt: skip
    from django.conf import settings

    backups = Path(settings.VAR_DIR) / "backups"
    backups.mkdir()
    (backups / "ksem-backup-20260101-000000-00000000.ksembak").write_bytes(b"old")
    publish(make_state(plant))
    assert live.read_state(plant.pk) is not None
    return plant, plant.serial_number


def _assert_factory_state(serial: str, password: str) -> None:
    from django.conf import settings

    assert list(get_user_model().objects.values_list("username", flat=True)) == [DEVICE_USERNAME]
    assert list(Plant.objects.values_list("name", "serial_number")) == [(reset.FIRST_PLANT_NAME, serial)]
    for model in (Meter, Membership, AccessToken, DeviceSettings, apps.get_model("sessions", "Session")):
        assert not model.objects.exists(), model
    assert not (Path(settings.VAR_DIR) / "backups").exists()
    assert all(live.read_state(pk) is None for pk in Plant.objects.values_list("pk", flat=True))
    login = Client()
    assert login.post("/login/", {"username": DEVICE_USERNAME, "password": password}).status_code == 302
    assert login.get("/device/").status_code == 200
    assert not Client().login(username="olga", password="Secret-Pass-1")


def test_the_command_wants_yes_then_leaves_the_factory_state_and_prints_the_password():
    plant, serial = _user_data()
    with pytest.raises(CommandError, match="--yes"):
        call_command("factory_reset")
    assert Meter.objects.exists()
    out = io.StringIO()
    call_command("factory_reset", "--yes", stdout=out, stderr=io.StringIO())
    match = PASSWORD_LINE.search(out.getvalue())
    assert match, out.getvalue()
    _assert_factory_state(serial, match.group(1))
    assert live.read_state(plant.pk) is None  # the old plant's live values are gone too


def test_the_page_resets_as_a_job_after_the_typed_confirmation(client: Client, capfd: pytest.CaptureFixture[str]):
    _plant, serial = _user_data()
    installer = get_user_model().objects.create_superuser("ines", password="Secret-Pass-1")
    client.force_login(installer)
    for wrong in ("", "reset please", serial[:-1]):
        response = client.post("/device/reset/", {"confirmation": wrong})
        assert response.status_code == 400
    assert Meter.objects.exists() and get_user_model().objects.filter(username="olga").exists()
    response = client.post("/device/reset/", {"confirmation": serial.lower()})
    assert response.status_code == 202, response.content
    job = response.json()
    # The reset ended the installer's session, but the page still learns the outcome.
    status = Client().get(f"/device/reset/jobs/{job['id']}/").json()
    assert status["state"] == "done" and status["progress_pct"] == 100.0
    assert "password" not in str(status).lower()
    match = PASSWORD_LINE.search(capfd.readouterr().out)
    assert match, "the password is printed on the worker's console"
    _assert_factory_state(serial, match.group(1))
    assert client.get("/device/").status_code == 302  # logged out
    assert Client().get("/device/reset/jobs/" + "0" * 32 + "/").status_code == 404
