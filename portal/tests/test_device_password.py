"""The device password: created once on first start, reset by the person at the machine (ACC-1)."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from meter.models import Meter
from plant.models import Plant
from portal.services import DEVICE_USERNAME

pytestmark = pytest.mark.django_db


def run(*args: str) -> list[str]:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_bootstrap_creates_plant_and_prints_the_password_only_once():
    first = "\n".join(run("bootstrap", "--meter-port", "15099"))
    plant = Plant.objects.get()
    assert Meter.objects.get(plant=plant).port == 15099
    password = first.split("(shown only now):", 1)[1].split()[0]
    assert authenticate(username=DEVICE_USERNAME, password=password) is not None

    second = "\n".join(run("bootstrap"))
    assert "password" not in second.lower()
    assert Plant.objects.count() == 1, "an existing installation is left as it is"
    assert authenticate(username=DEVICE_USERNAME, password=password) is not None


def test_password_is_stored_only_as_a_hash():
    output = "\n".join(run("bootstrap"))
    password = output.split("(shown only now):", 1)[1].split()[0]
    stored = get_user_model().objects.get(username=DEVICE_USERNAME).password
    assert password not in stored
    assert stored.startswith(("pbkdf2_", "argon2", "bcrypt", "scrypt"))


def test_reset_prints_a_new_password_as_the_last_line():
    run("bootstrap")
    old_hash = get_user_model().objects.get(username=DEVICE_USERNAME).password
    new_password = run("device_password", "--reset")[-1]
    assert len(new_password) >= 8
    assert any(c.isupper() for c in new_password) and any(c.islower() for c in new_password)
    assert authenticate(username=DEVICE_USERNAME, password=new_password) is not None
    assert get_user_model().objects.get(username=DEVICE_USERNAME).password != old_hash


def test_reset_without_the_flag_changes_nothing():
    run("bootstrap")
    before = get_user_model().objects.get(username=DEVICE_USERNAME).password
    with pytest.raises(Exception, match="--reset"):
        run("device_password")
    assert get_user_model().objects.get(username=DEVICE_USERNAME).password == before
