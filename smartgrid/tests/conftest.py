"""A plant, a second plant, and people with roles on the first."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from plant.models import Plant
from portal.models import Membership


@pytest.fixture
def plant(db: None) -> Plant:
    return Plant.objects.create(name="Home", time_zone="Europe/Berlin")


@pytest.fixture
def other_plant(db: None) -> Plant:
    return Plant.objects.create(name="Neighbour", time_zone="Europe/Berlin")


def _person(name: str, plant: Plant, role: str) -> Client:
    user = get_user_model().objects.create_user(name, password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=plant, role=role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def installer(plant: Plant) -> Client:
    return _person("inst-anna", plant, Membership.Role.INSTALLER)


@pytest.fixture
def operator(plant: Plant) -> Client:
    return _person("oper-otto", plant, Membership.Role.OPERATOR)
