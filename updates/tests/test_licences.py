"""The licences page at /device/licences/ and in the API (DEV-9): every package the product
requires is listed with its licence, Django with its BSD licence."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from plant.models import Plant
from portal.models import Membership

pytestmark = pytest.mark.django_db

REQUIREMENTS = Path(__file__).resolve().parents[2] / "requirements.txt"


def required() -> dict[str, str]:
    """name (normalised) -> pinned version, from requirements.txt."""
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;#]+)", line.strip())
        if match:
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[3]
    return pins


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture
def operator_client(client: Client) -> Client:
    user = get_user_model().objects.create_user("olga", password="Secret-Pass-1")
    Membership.objects.create(user=user, plant=Plant.objects.create(name="Home"), role="operator")
    client.force_login(user)
    return client


def test_the_api_lists_every_required_package_with_its_version_and_licence(operator_client: Client):
    answer = operator_client.get("/api/v1/device/licences")
    assert answer.status_code == 200
    listed = {normal(c["name"]): c for c in answer.json()["components"]}
    assert len(required()) > 20
    for name, pinned in required().items():
        assert name in listed, f"{name} from requirements.txt is not listed"
        assert listed[name]["version"] == pinned
        assert listed[name]["licence"], f"{name} has no licence shown"
    assert "BSD" in listed["django"]["licence"]
    assert listed["django"]["homepage"].startswith("https://")


def test_the_page_shows_them_to_any_logged_in_role(operator_client: Client):
    page = operator_client.get("/device/licences/").content.decode()
    rows = re.findall(r'data-testid="licence-row" data-name="([^"]+)"', page)
    assert {normal(r) for r in rows} >= set(required())
    django_row = page[page.index('data-name="Django"') :].split("</tr>")[0]
    assert "BSD" in django_row


def test_both_need_a_login(client: Client):
    assert client.get("/device/licences/").status_code == 302
    assert client.get("/api/v1/device/licences").status_code in (401, 403)
