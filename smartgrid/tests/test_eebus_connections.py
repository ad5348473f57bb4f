"""The connections page, the API and ``manage.py eebus`` (SG-4): installers only; inputs validated."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from access import services as access_services
from plant.models import Plant
from portal.models import Membership
from smartgrid import services
from smartgrid.eebus import identities, store
from smartgrid.eebus.models import EebusPeer
from smartgrid.eebus.ski import SkiError

pytestmark = pytest.mark.django_db

SKI = "a065fc7d1d4d6953551d0cd5ca5ebf36eb8db94e"
OTHER = "5cac1f189e3a6d1c1e45cc0994c85af27fe839fd"


@pytest.fixture
def plant(settings: Any, tmp_path: Path) -> Plant:
    settings.EEBUS_DIR = tmp_path / "eebus"
    return Plant.objects.create(name="home")


def login(client: Client, plant: Plant, role: str | None) -> Client:
    user = get_user_model().objects.create_user(f"person-{role}", password="Secret-Pass-1")
    if role:
        Membership.objects.create(user=user, plant=plant, role=role)
    client.force_login(user)
    return client


def discovered(plant: Plant, ski: str = SKI, **fields: Any) -> EebusPeer:
    values = {"host": "cb.local", "port": 4712, "brand": "Demo", "model": "ControlBox"} | fields
    return EebusPeer.objects.create(plant=plant, ski=ski, device_type="ElectricitySupplySystem", **values)


# --- status ---------------------------------------------------------------------------------


def test_the_status_follows_trust_and_the_services_heartbeat(plant: Plant):
    peer = discovered(plant)
    assert peer.status() == "not_coupled"
    store.couple(plant.pk, SKI.upper())
    peer.refresh_from_db()
    assert peer.status() == "coupled"
    store.write_changes(plant.pk, store.Changes(), [SKI])
    peer.refresh_from_db()
    assert peer.status() == "connected" and peer.connected_since is not None
    # The service died without saying so: after 10 s without a refresh it is not connected any more.
    assert peer.status(timezone.now() + dt.timedelta(seconds=11)) == "not_connected"
    store.write_changes(plant.pk, store.Changes(), [])
    peer.refresh_from_db()
    assert peer.status() == "not_connected"
    store.decouple(plant.pk, SKI)
    peer.refresh_from_db()
    assert peer.status() == "not_coupled"


def test_discoveries_are_stored_cut_to_size_and_the_ship_id_never_changes(plant: Plant):
    changes = store.Changes()
    txt = {"id": "Box-1", "brand": "B" * 300, "model": "M\x00odel", "type": "ElectricitySupplySystem"}
    changes.discovered[SKI] = store.discovered_fields("10.0.0.7", 4712, txt)
    store.write_changes(plant.pk, changes, [])
    peer = EebusPeer.objects.get(plant=plant, ski=SKI)
    assert (peer.ship_id, peer.brand, peer.model, peer.host, peer.port) == (
        "Box-1",
        "B" * 64,
        "Model",
        "10.0.0.7",
        4712,
    )
    assert not peer.trusted and peer.last_seen is not None
    changes = store.Changes()
    changes.discovered[SKI] = store.discovered_fields("10.0.0.8", 99999, {"id": "Other"})
    store.write_changes(plant.pk, changes, [])
    peer.refresh_from_db()
    assert (peer.ship_id, peer.host, peer.port) == ("Box-1", "10.0.0.8", 4712)


def test_bad_input_changes_nothing(plant: Plant):
    with pytest.raises(SkiError, match="not 40"):
        store.couple(plant.pk, "abc")
    with pytest.raises(store.PeerError, match="not a host"):
        store.connect(plant.pk, "bad host/x", 4712, SKI)
    with pytest.raises(store.PeerError, match="between 1 and 65535"):
        store.connect(plant.pk, "10.0.0.7", 70000, SKI)
    with pytest.raises(store.PeerError, match="no device"):
        store.decouple(plant.pk, SKI)
    assert not EebusPeer.objects.exists()


# --- the page ---------------------------------------------------------------------------------


def test_the_page_shows_the_own_ski_and_the_devices_to_installers(client: Client, plant: Plant):
    discovered(plant, description="the grid operator's box")
    login(client, plant, "installer")
    response = client.get("/smartgrid/connections/")
    assert response.status_code == 200
    page = response.content.decode()
    own = identities.load(plant.pk)
    assert own.ski in page and own.ship_id in page and 'data-copy-target="own-ski"' in page
    assert SKI in page and "cb.local" in page and "not coupled" in page and "the grid operator&#x27;s box" in page
    assert "ElectricitySupplySystem" in page and "Demo" in page and "ControlBox" in page
    assert identities.load(plant.pk).ski == own.ski, "the identity is created once and then only loaded"


@pytest.mark.parametrize("role", ["operator", None])
def test_people_who_are_not_installers_get_403_and_change_nothing(client: Client, plant: Plant, role: str | None):
    discovered(plant)
    login(client, plant, role)
    assert client.get("/smartgrid/connections/").status_code == 403
    assert client.post("/smartgrid/connections/couple/", {"ski": SKI}).status_code == 403
    assert client.post("/smartgrid/connections/new/", {"host": "h", "port": 1, "ski": OTHER}).status_code == 403
    assert not EebusPeer.objects.get(ski=SKI).trusted
    assert EebusPeer.objects.count() == 1


def test_couple_decouple_and_new_connection_from_the_page(client: Client, plant: Plant):
    discovered(plant)
    login(client, plant, "installer")
    response = client.post("/smartgrid/connections/couple/", {"ski": SKI.upper()}, follow=True)
    assert "is coupled" in response.content.decode()
    assert EebusPeer.objects.get(ski=SKI).trusted
    response = client.post("/smartgrid/connections/decouple/", {"ski": SKI}, follow=True)
    assert "is decoupled" in response.content.decode()
    assert not EebusPeer.objects.get(ski=SKI).trusted
    response = client.post("/smartgrid/connections/disconnect/", {"ski": SKI}, follow=True)
    assert "is not connected" in response.content.decode()

    response = client.post("/smartgrid/connections/new/", {"host": "192.168.1.20", "port": "4712", "ski": "x" * 40})
    assert response.status_code == 400
    assert "only hold hexadecimal digits" in response.content.decode()
    response = client.post("/smartgrid/connections/new/", {"host": "192.168.1.20", "port": "4712", "ski": OTHER})
    assert response.status_code == 302
    peer = EebusPeer.objects.get(ski=OTHER)
    assert (peer.host, peer.port, peer.trusted, peer.status()) == ("192.168.1.20", 4712, True, "coupled")


# --- the API --------------------------------------------------------------------------------


def test_the_api_lists_and_changes_for_installers_only(client: Client, plant: Plant):
    discovered(plant)
    url = f"/api/v1/plants/{plant.pk}/eebus"
    assert client.get(url).status_code in (401, 403)
    login(client, plant, "operator")
    assert client.get(url).status_code == 403
    assert client.post(f"{url}/peers/{SKI}/couple").status_code == 403
    client.logout()
    login(client, plant, "installer")
    data = client.get(url).json()
    assert data["ski"] == identities.load(plant.pk).ski and data["port"] == 4711
    assert [(p["ski"], p["status"], p["host"]) for p in data["peers"]] == [(SKI, "not_coupled", "cb.local")]

    response = client.post(f"{url}/peers/{SKI}/couple")
    assert response.status_code == 200 and response.json()["status"] == "coupled"
    response = client.post(f"{url}/peers/{SKI[:-2]}zz/couple")
    assert response.status_code == 400 and "hexadecimal" in json.dumps(response.json())
    response = client.post(f"{url}/peers/{OTHER}/decouple")
    assert response.status_code == 400 and "no device" in response.json()["detail"]
    response = client.post(f"{url}/peers/{SKI}/decouple")
    assert response.status_code == 200 and response.json()["status"] == "not_coupled"

    response = client.post(f"{url}/connections", {"host": "10.0.0.9", "port": 4712, "ski": "nope"}, "application/json")
    assert response.status_code == 400 and "ski" in response.json()
    response = client.post(f"{url}/connections", {"host": "10.0.0.9", "ski": OTHER}, "application/json")
    assert response.status_code == 201 and response.json()["status"] == "coupled"
    assert client.get(f"/api/v1/plants/{plant.pk + 99}/eebus").status_code == 404


def test_an_api_token_may_not_change_the_trust(client: Client, plant: Plant):
    user = get_user_model().objects.create_superuser("root", password="Secret-Pass-1")
    token = access_services.create_token(
        name="ro", role="api", expires_on=timezone.now().date() + dt.timedelta(days=3), user=user, authorise=True
    )
    headers = {"Authorization": f"Bearer {token.secret}"}
    discovered(plant)
    assert client.post(f"/api/v1/plants/{plant.pk}/eebus/peers/{SKI}/couple", headers=headers).status_code == 403
    assert not EebusPeer.objects.get(ski=SKI).trusted


# --- the console ----------------------------------------------------------------------------


def test_the_console_couples_decouples_and_tells_the_status(plant: Plant):
    discovered(plant)
    services.set_enabled(plant.pk, True)
    out = io.StringIO()
    call_command("eebus", "couple", " ".join(SKI[i : i + 4] for i in range(0, 40, 4)), stdout=out)
    assert f"couple: {SKI}" in out.getvalue() and "coupled" in out.getvalue()
    out = io.StringIO()
    call_command("eebus", "status", stdout=out)
    text = out.getvalue()
    assert identities.load(plant.pk).ski in text and "LPC:" in text and "LPP:" in text and "init" in text
    assert f"peer {SKI}  coupled" in text
    out = io.StringIO()
    call_command("eebus", "status", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["limits"]["lpc"]["state"] == "init" and data["peers"][0]["status"] == "coupled"
    call_command("eebus", "decouple", SKI, stdout=io.StringIO())
    assert not EebusPeer.objects.get(ski=SKI).trusted
    with pytest.raises(CommandError, match="not 40"):
        call_command("eebus", "couple", "12345")
    with pytest.raises(CommandError, match="no plant 999"):
        call_command("eebus", "--plant", "999", "status")
