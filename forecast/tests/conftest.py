"""A plant with a PV inverter, a second plant, and people with roles on the first."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from inverters.models import Inverter
from plant.models import Plant
from portal.models import Membership


@pytest.fixture
def plant(db: None) -> Plant:
    plant = Plant.objects.create(name="Home", time_zone="Europe/Berlin")
    Inverter.objects.create(plant=plant, name="Roof", type=Inverter.Type.PLENTICORE, max_ac_w=8000, host="10.0.0.2")
    return plant


@pytest.fixture
def other_plant(db: None) -> Plant:
    return Plant.objects.create(name="Neighbour", time_zone="Europe/Vienna")


def person(name: str, plant: Plant, role: str) -> Client:
    user = get_user_model().objects.create_user(name, password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def installer(plant: Plant) -> Client:
    return person("inst-anna", plant, Membership.Role.INSTALLER)


@pytest.fixture
def operator(plant: Plant) -> Client:
    return person("oper-otto", plant, Membership.Role.OPERATOR)
