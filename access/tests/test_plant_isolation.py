"""One plant's people never see another plant (issue 14.1, ACC-4): a sweep generated from the URL
configuration, so that a route added later without the read check fails here.

Plant 1 ("Alphahof-7731") has everything a plant can have: a meter, inverters with a battery,
a wallbox with charging sessions and phase switches, tariffs, a price source, the Modbus slave
serving it, a live snapshot in Redis, a person of its own. Its strings (``P1_MARKERS``) are
looked for in every answer. Every HTTP route Django knows (pages, the API and its unversioned
aliases, the admin) is requested with every id filled with plant 1's objects and
``?plant=<plant 1>``, with GET, POST, PUT and DELETE, by

- Nora, a person with no role at all;
- an installer of another plant (the strongest role a person can have without plant 1): that
  sweep runs with five plants, by sessions and by tokens, in ``test_fleet_isolation``.

Each answer must be a refusal (401/403/404/405, or a redirect to a login page) and carry none of
plant 1's strings; only the routes in ``NO_PLANT_DATA`` may answer otherwise, and they too must
carry none of plant 1's strings. Afterwards plant 1's rows and the device-wide settings are
exactly as before. The websocket routes are swept the same way. The device account is the
control: the same routes show it plant 1.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from access.models import AccessToken
from access.services import create_token
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState, WallboxState
from events.models import Event
from inverters.models import Battery, Inverter
from meter.models import Meter
from modbus.models import ClientCertificate, MasterTarget, ModbusSettings, SerialInterface
from plant.models import Plant
from plant.options import WALLBOX, set_option
from portal import roles
from portal.models import Membership
from portal.services import DEVICE_USERNAME, ensure_device_user
from tariffs import services as tariff_services
from tariffs.models import DynamicPrice, PriceSource, TariffVersion
from tests.pages import publish, text_of
from wallbox.models import ChargingSession, PhaseSwitchEvent, Wallbox

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_hashing")]


@pytest.fixture
def fast_hashing(settings: Any) -> None:
    """Many logins: the real hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


P1_NAME = "Alphahof-7731"
# Everything of plant 1 a leak would show: its name, device names and addresses, serial numbers,
# a live value of its snapshot, its person, its price endpoint, the device-wide Modbus target
# that receives its values.
P1_MARKERS = (P1_NAME, "Alpha-", "ALPHA-SN", "198.51.100.", "4242.4", "zed-alpha", "alpha-prices")

# Routes that carry no plant's data (or filter it themselves): they may answer 200 to anybody
# logged in, and are still searched for plant 1's strings. Keyed by URL name (the API's "v1:"
# namespace dropped) or, for an unnamed route, by its path.
NO_PLANT_DATA = {
    "licences": "the open-source components and their licences, the same for every device",
    "device-licences": "the same licences page under Device",
    "api-device-licences": "the same list in the API",
    "portal:login": "the login form",
    "portal:verify": "the two-factor code form of one's own login",
    "portal:logout": "ends one's own session",
    "portal:profile": "one's own account",
    "portal:password": "one's own password",
    "portal:two_factor": "one's own two-factor login",
    "portal:two_factor_off": "one's own two-factor login",
    "set_language": "the language of one's own session",
    "admin:login": "the Django admin's login form (people are not staff)",
    "admin:logout": "ends one's own session",
    "api-health": "no login needed: plants by id and status; a name only for who may read the plant",
    "api-schema": "the API's description",
    "api/schema": "the API's description",
    "api-docs": "the API's description",
    "api-plants": "lists only the plants the caller may read",
    "api-plants-status": "the plant list with status: only the plants the caller may read",
    "api-modbus-map": "empty for a caller without a role on the served plant",
    "solarportal:receive": "the portal's report upload: no login, each request signed by its plant's credential",
    "events:list": "lists only the events of plants the caller may read",
    "api-events": "lists only the events of plants the caller may read",
}
REFUSED = {401, 403, 404, 405}
LOGIN_PAGES = ("/login/", "/admin/login/")
METHODS = ("get", "post", "put", "delete")


# --- the plants ---------------------------------------------------------------------------------


def _state(plant: Plant, *, grid_w: float, box: str, inverter: str) -> PlantState:
    return PlantState(
        plant_id=plant.pk,
        timestamp=dt.datetime.now(dt.UTC),
        sequence=3,
        meter=None,
        meter_status=DeviceStatus(name="meter", online=True, last_seen=dt.datetime.now(dt.UTC)),
        flow=EnergyFlow(
            grid_power_w=grid_w,
            pv_power_w=1000.0,
            battery_power_w=None,
            battery_soc_pct=None,
            house_power_w=grid_w + 1000.0,
            wallbox_power_w=0.0,
        ),
        totals=EnergyCounters(active_import_wh=1000.0, active_export_wh=500.0),
        devices=(DeviceStatus(name=inverter, online=True),),
        wallboxes=(
            WallboxState(
                name=box,
                type="enector_11",
                status=DeviceStatus(name=box, online=True),
                state="charging",
                mode="power",
                configured_mode="power",
                phases=3,
                power_w=0.0,
                vehicle_connected=True,
                phase_currents_a=(0.0, 0.0, 0.0),
                session_energy_wh=0.0,
            ),
        ),
        messages=(f"{box} is charging",),
    )


def _plant(name: str, prefix: str, net: str, grid_w: float, bus_address: int) -> dict[str, Any]:
    plant = Plant.objects.create(name=name, time_zone="Europe/Berlin")
    set_option(plant, WALLBOX)
    Meter.objects.create(plant=plant, host=f"{net}1")
    mp = Inverter.objects.create(
        plant=plant, name=f"{prefix}-MP", type="piko_mp_plus", interface="B", address=bus_address, max_ac_w=3600.0,
        power_class="3.6-2", with_battery=True, serial_number=f"{prefix.upper()}-SN-1",
    )  # fmt: skip
    Battery.objects.create(
        inverter=mp, type="byd_hvs", modules=3, capacity_wh=7680, max_charge_w=7680, max_discharge_w=7680
    )
    roof = Inverter.objects.create(
        plant=plant, name=f"{prefix}-Roof", type="plenticore", host=f"{net}2", max_ac_w=10_000.0, power_class="10"
    )
    box = Wallbox.objects.create(
        plant=plant,
        name=f"{prefix}-Carport",
        interface="A",
        address=bus_address,
        serial_number=f"{prefix.upper()}-SN-2",
    )
    start = dt.datetime(2026, 11, 1, 8, tzinfo=dt.UTC)
    ChargingSession.objects.create(
        plant=plant, wallbox=box, wallbox_name=box.name, started=start, ended=start + dt.timedelta(hours=2),
        energy_wh=4242.4, solar_wh=1000.0, charging_s=7000.0,
    )  # fmt: skip
    PhaseSwitchEvent.objects.create(plant=plant, wallbox=box, **_phase_switch_fields(box, start))
    tariff_services.save_version(
        plant, "purchase", valid_from=start, basic_charge=Decimal("9.99"), names=["flat"], prices=[Decimal("0.30")],
        grid=[[0] * 24 for _ in range(7)],
    )  # fmt: skip
    DynamicPrice.objects.create(
        plant=plant, direction="purchase", start=start, end=start + dt.timedelta(hours=1), price=Decimal("0.25")
    )
    PriceSource.objects.create(plant=plant, direction="purchase", url=f"http://{net}9/{prefix.lower()}-prices.json")
    publish(_state(plant, grid_w=grid_w, box=box.name, inverter=roof.name))
    return {"plant": plant, "mp": mp, "roof": roof, "box": box}


def _phase_switch_fields(box: Wallbox, start: dt.datetime) -> dict[str, Any]:
    """Whatever fields the phase-switch log has besides its plant and box (filled generically)."""
    fields: dict[str, Any] = {}
    for field in PhaseSwitchEvent._meta.concrete_fields:
        if field.name in ("id", "plant", "wallbox") or field.has_default() or field.null:
            continue
        internal = field.get_internal_type()
        if internal == "DateTimeField":
            fields[field.name] = start
        elif internal in ("CharField", "TextField"):
            fields[field.name] = box.name
        elif "Integer" in internal:
            fields[field.name] = 1
        elif internal == "FloatField":
            fields[field.name] = 1.0
    return fields


def _person(name: str, **roles_by_plant: Any) -> Any:
    user = get_user_model().objects.create_user(name, password="Person-Pass-1")
    for role, plant in roles_by_plant.items():
        Membership.objects.create(user=user, plant=plant, role=role)
    return user


@pytest.fixture
def world() -> dict[str, Any]:
    ensure_device_user()
    one = _plant(P1_NAME, "Alpha", "198.51.100.", 4242.4, 5)
    two = _plant("Betahof", "Beta", "203.0.113.", 1313.1, 6)
    settings_row, _ = ModbusSettings.objects.get_or_create(pk=1)
    settings_row.plant = one["plant"]
    settings_row.save()
    target = MasterTarget.objects.create(host="198.51.100.80", port=502, unit_id=1)
    Event.objects.create(
        time=dt.datetime.now(dt.UTC), plant=one["plant"], kind="device_offline", message="Alpha-meter offline"
    )
    certificate = ClientCertificate.objects.create(fingerprint="AB" * 32, subject="CN=alpha-scada")
    device = get_user_model().objects.get(username=DEVICE_USERNAME)
    token = create_token(name="alpha-token", role="api", expires_on=dt.date(2030, 1, 1), user=device).token
    world = {
        "one": one,
        "two": two,
        "target": target,
        "certificate": certificate,
        "token": token,
        "zed": _person("zed-alpha", operator=one["plant"]),
        "bea": _person("bea", installer=two["plant"]),
        "nora": _person("nora"),
        "device": device,
    }
    return world


# --- the URL configuration, walked ---------------------------------------------------------------


def _routes() -> list[tuple[str, list[Any]]]:
    """(key, [pattern pieces]) of every HTTP route: key is the URL name without the API's
    ``v1:`` namespace, or the path for an unnamed route."""
    found: list[tuple[str, list[Any]]] = []

    def walk(patterns: list[Any], pieces: list[Any], namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
                walk(pattern.url_patterns, [*pieces, pattern.pattern], inner)
            elif isinstance(pattern, URLPattern):
                chain = [*pieces, pattern.pattern]
                if pattern.name:
                    key = (namespace + pattern.name).removeprefix("v1:")
                else:
                    key = "".join(str(piece) for piece in chain)
                found.append((key, chain))

    walk(get_resolver().url_patterns, [], "")
    return found


ROUTE_PARAMETER = re.compile(r"<(?:[^>:]+:)?([^>]+)>")
REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^()]*\)")


def _value(name: str, path: str, world: dict[str, Any]) -> str:
    one = world["one"]
    by_name: dict[str, Any] = {
        "plant_id": one["plant"].pk,
        "inverter_id": one["roof"].pk,
        "wallbox_id": one["box"].pk,
        "token_id": world["token"].pk,
        "person_id": world["zed"].pk,  # a person with a role on plant 1 only
        "direction": "purchase",
        "name": "A",
        "object_id": one["plant"].pk,
        "app_label": "plant",
        "content_type_id": ContentType.objects.get_for_model(Plant).pk,
        "url": "x",
        "job_id": "0" * 32,  # a backup job (device-wide, installers of every plant only)
        "ski": "ab" * 20,  # an EEBus peer of plant 1 (coupling one is what another plant must not do)
        "action": "couple",
    }
    if name in by_name:
        return str(by_name[name])
    if name in ("pk", "id"):  # which object a bare id names, by the part of the path it is in
        for part, value in (
            ("inverters", one["mp"].pk),  # the PIKO MP plus: its battery page exists too
            ("wallbox", one["box"].pk),
            ("targets", world["target"].pk),
            ("certificates", world["certificate"].pk),
            ("people", world["zed"].pk),
            ("auth/user", world["zed"].pk),
            ("tokens", world["token"].pk),
        ):
            if part in path:
                return str(value)
        if path.startswith("admin/"):  # the Django admin, staff only: any object of plant 1's id
            return str(one["plant"].pk)
    raise AssertionError(f"the sweep does not know what {name!r} in {path!r} names: add it to _value()")


def _filler(where: str, world: dict[str, Any]) -> Any:
    def fill(match: re.Match[str]) -> str:
        return _value(match.group(1), where, world)

    return fill


def _path(chain: list[Any], world: dict[str, Any]) -> str:
    path = ""
    for piece in chain:
        if isinstance(piece, RoutePattern):
            text = str(piece)
            path += ROUTE_PARAMETER.sub(_filler(path + text, world), text)
        elif isinstance(piece, RegexPattern):
            text = piece.regex.pattern
            text = REGEX_GROUP.sub(_filler(path + text, world), text)
            path += text.removeprefix("^").removesuffix("$").replace("\\", "")
        else:  # pragma: no cover - a pattern kind the sweep cannot fill
            raise AssertionError(f"unknown pattern kind {piece!r}")
    return "/" + path


# --- what a refusal is, and what a leak is ---------------------------------------------------------


def _leaks(response: Any) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", errors="replace")
    return [marker for marker in P1_MARKERS if marker in text]


def _refused(response: Any) -> bool:
    if response.status_code in REFUSED:
        return True
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES)


def _fingerprint(world: dict[str, Any]) -> dict[str, Any]:
    """Plant 1's rows and the device-wide settings, to prove nothing was changed."""
    plant = world["one"]["plant"]
    rows: dict[str, Any] = {"plant": model_to_dict(Plant.objects.get(pk=plant.pk))}
    for model in (
        Meter, Inverter, Wallbox, ChargingSession, PhaseSwitchEvent, TariffVersion, DynamicPrice, PriceSource,
        Membership,
    ):  # fmt: skip
        rows[model.__name__] = [model_to_dict(row) for row in model.objects.filter(plant=plant).order_by("pk")]
    rows["Battery"] = [model_to_dict(row) for row in Battery.objects.filter(inverter__plant=plant)]
    device_wide: tuple[Any, ...] = (ModbusSettings, MasterTarget, ClientCertificate, SerialInterface, AccessToken)
    for wide in device_wide:
        rows[wide.__name__] = [
            {k: v for k, v in model_to_dict(row).items() if k not in ("updated_at", "last_used_at")}
            for row in wide.objects.order_by("pk")
        ]
    rows["users"] = sorted(get_user_model().objects.values_list("username", "is_active", "password"))
    return rows


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- the sweep -------------------------------------------------------------------------------------


# Bea's sweep (an installer of another plant) runs with five plants, sessions and tokens, in
# test_fleet_isolation; here the person without any role.
@pytest.mark.parametrize("who", ["nora"])
def test_every_route_refuses_another_plant_and_shows_nothing_of_it(world: dict[str, Any], who: str) -> None:
    routes = _routes()
    assert len(routes) > 100, "the walk found the URL configuration"
    assert set(NO_PLANT_DATA) <= {key for key, _ in routes}, "the allow-list names routes that exist"
    before = _fingerprint(world)
    plant_one = world["one"]["plant"].pk
    problems: list[str] = []
    refused_403 = 0
    urls = [(key, f"{_path(chain, world)}?plant={plant_one}") for key, chain in routes]
    client = _client(world[who])
    for key, url in urls:
        for method in METHODS:
            response = getattr(client, method)(url)
            if key in NO_PLANT_DATA:  # a logout or a language switch: the next request starts afresh
                client = _client(world[who])
            leaked = _leaks(response)
            if leaked:
                problems.append(f"{method.upper()} {url} ({key}): {response.status_code} shows {leaked}")
            elif key not in NO_PLANT_DATA and not _refused(response):
                problems.append(f"{method.upper()} {url} ({key}): {response.status_code}, not refused")
            refused_403 += response.status_code == 403
    assert not problems, "\n".join(problems)
    assert refused_403 > 200, "the refusals are the role check's (403), not merely unknown addresses"
    assert _fingerprint(world) == before, "nothing of plant 1 or the device changed"


def test_the_device_account_still_sees_plant_one_on_the_same_routes(world: dict[str, Any]) -> None:
    """The control: the sweep's markers and ids are right, and the device account keeps its access."""
    client = _client(world["device"])
    one = world["one"]
    plant = one["plant"].pk
    for url, marker in [
        (f"/?plant={plant}", "4242.4"),
        (f"/plant/overview/?plant={plant}", "Alpha-Roof"),
        (f"/meter/?plant={plant}", P1_NAME),
        (f"/inverters/?plant={plant}", "198.51.100.2"),
        (f"/inverters/{one['roof'].pk}/", "198.51.100.2"),
        (f"/inverters/{one['mp'].pk}/battery/", "Alpha-MP"),
        (f"/wallbox/{one['box'].pk}/?plant={plant}", "Alpha-Carport"),
        (f"/wallbox/sessions/?plant={plant}", "Alpha-Carport"),
        (f"/tariffs/settings/?plant={plant}", "alpha-prices"),
        (f"/api/v1/plants/{plant}/state", "4242.4"),
        (f"/api/v1/plants/{plant}/inverters/{one['roof'].pk}", "198.51.100.2"),
        (f"/api/v1/plants/{plant}/charging-sessions", "Alpha-Carport"),
        ("/api/v1/plants/", P1_NAME),
        ("/modbus/", "198.51.100.80"),
        ("/people/", "zed-alpha"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert marker in response.content.decode(), url


# --- the listed pages, one by one ---------------------------------------------------------------------


LISTED = [
    "/?plant={plant}",
    "/plant/overview/?plant={plant}",
    "/meter/?plant={plant}",
    "/inverters/?plant={plant}",
    "/inverters/{mp}/",
    "/inverters/{mp}/battery/",
    "/wallbox/{box}/",
    "/wallbox/{box}/?plant={plant}",
    "/wallbox/?plant={plant}",
    "/wallbox/sessions/?plant={plant}",
    "/wallbox/phase_switching_log.txt?plant={plant}",
    "/tariffs/?plant={plant}",
    "/tariffs/settings/?plant={plant}",
    "/api/v1/plants/{plant}/state",
    "/api/v1/plants/{plant}/wallboxes/{box}",
]


@pytest.mark.parametrize("template", LISTED)
def test_an_installer_of_plant_two_gets_403_for_plant_one(world: dict[str, Any], template: str) -> None:
    one = world["one"]
    url = template.format(plant=one["plant"].pk, mp=one["mp"].pk, box=one["box"].pk)
    response = _client(world["bea"]).get(url)
    assert response.status_code == 403, url
    assert not _leaks(response)
    if not url.startswith("/api/"):
        assert "You have no role on this plant." in response.content.decode()


def test_without_plant_in_the_address_a_person_sees_their_own_plant(world: dict[str, Any]) -> None:
    client = _client(world["bea"])
    for url, marker in [
        ("/", "1313.1"),
        ("/plant/overview/", "Beta-Roof"),
        ("/meter/", "1313.1"),
        ("/inverters/", "203.0.113.2"),
        ("/wallbox/", "Beta-Carport"),
        ("/wallbox/sessions/", "Beta-Carport"),
        ("/tariffs/settings/", "beta-prices"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert marker in response.content.decode(), url
        assert not _leaks(response), url


def test_a_plant_chosen_before_a_role_was_taken_away_is_not_shown_again(world: dict[str, Any]) -> None:
    one, two = world["one"]["plant"], world["two"]["plant"]
    mia = _person("mia", operator=one)
    Membership.objects.create(user=mia, plant=two, role="operator")
    client = _client(mia)
    assert P1_NAME in client.get(f"/?plant={one.pk}").content.decode()  # chosen: kept in the session
    Membership.objects.filter(user=mia, plant=one).delete()

    page = client.get("/")

    assert page.status_code == 200
    assert not _leaks(page)
    assert client.get(f"/?plant={one.pk}").status_code == 403


def test_a_person_without_any_role_is_told_so_on_every_plant_page(world: dict[str, Any]) -> None:
    client = _client(world["nora"])
    for url in ("/", "/meter/", "/inverters/", "/wallbox/", "/tariffs/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "You have no role on any plant" in response.content.decode(), url
    assert client.get("/profile/").status_code == 200
    assert client.get("/api/v1/plants/").json()["results"] == []


def test_the_api_lists_only_the_plants_the_person_may_read(world: dict[str, Any]) -> None:
    listed = _client(world["bea"]).get("/api/v1/plants/").json()
    assert [plant["name"] for plant in listed["results"]] == ["Betahof"]
    assert listed["count"] == 1
    everything = _client(world["device"]).get("/api/v1/plants/").json()
    assert [plant["name"] for plant in everything["results"]] == [P1_NAME, "Betahof"]


def test_the_modbus_map_is_empty_without_a_role_on_the_served_plant(world: dict[str, Any]) -> None:
    refused = _client(world["bea"]).get("/api/v1/modbus/map?limit=1000").json()
    assert refused["count"] == 0 and refused["results"] == []
    served = _client(world["device"]).get("/api/v1/modbus/map?limit=1000").json()
    assert served["count"] > 0
    # A person with a role on the served plant sees it as the device account does.
    operator = _client(world["zed"]).get("/api/v1/modbus/map?limit=1000").json()
    assert operator["count"] == served["count"]


def test_device_wide_pages_need_a_role_on_every_plant(world: dict[str, Any]) -> None:
    one, two = world["one"]["plant"], world["two"]["plant"]
    both = _person("otto", operator=one)
    Membership.objects.create(user=both, plant=two, role="operator")
    for url in ("/modbus/", "/people/", "/api/v1/modbus/settings", "/api/v1/modbus/targets/"):
        assert _client(world["bea"]).get(url).status_code == 403, url
        assert _client(both).get(url).status_code == 200, url


def test_the_header_offers_only_the_plants_a_person_may_read(world: dict[str, Any]) -> None:
    third = Plant.objects.create(name="Gammahof")
    Membership.objects.create(user=world["bea"], plant=third, role="operator")
    page = _client(world["bea"]).get("/").content.decode()
    switcher = text_of(page, "plant-switcher")
    assert "Betahof" in switcher and "Gammahof" in switcher
    assert P1_NAME not in page


def test_health_names_a_plant_only_to_whom_may_read_it(world: dict[str, Any]) -> None:
    anonymous = Client().get("/api/health").json()
    assert [plant["id"] for plant in anonymous["plants"]] == [world["one"]["plant"].pk, world["two"]["plant"].pk]
    assert all("name" not in plant for plant in anonymous["plants"])
    bea = _client(world["bea"]).get("/api/health").json()
    assert [plant.get("name") for plant in bea["plants"]] == [None, "Betahof"]


def test_an_api_token_reads_only_what_its_person_may_read(world: dict[str, Any]) -> None:
    secret = create_token(name="bea-api", role="api", expires_on=dt.date(2030, 1, 1), user=world["bea"]).secret
    AccessToken.objects.filter(name="bea-api").update(authorised=True)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    one, two = world["one"]["plant"].pk, world["two"]["plant"].pk
    assert client.get(f"/api/v1/plants/{two}/state").status_code == 200
    refused = client.get(f"/api/v1/plants/{one}/state")
    assert refused.status_code == 403
    assert not _leaks(refused)


def test_may_read_is_the_one_answer(world: dict[str, Any]) -> None:
    one, two = world["one"]["plant"], world["two"]["plant"]
    table = [
        (world["device"], one, True),
        (world["device"], None, True),
        (world["bea"], two, True),
        (world["bea"], two.pk, True),
        (world["bea"], one, False),
        (world["bea"], None, False),
        (world["nora"], one, False),
        (world["nora"], None, False),
    ]
    for user, plant, expected in table:
        assert roles.may_read(user, plant) is expected, (user, plant)
    assert roles.readable_plant_ids(world["bea"]) == frozenset({two.pk})
    assert roles.readable_plant_ids(world["device"]) is None


# --- websockets --------------------------------------------------------------------------------------


def _websocket_paths(plant_id: int) -> list[str]:
    from plant.routing import websocket_urlpatterns

    paths = []
    for pattern in websocket_urlpatterns:
        route = str(pattern.pattern)
        if isinstance(pattern.pattern, RoutePattern):
            paths.append("/" + ROUTE_PARAMETER.sub(lambda m: str(plant_id) if m.group(1) == "plant_id" else "x", route))
        else:
            paths.append("/ws/anything/")  # the catch-all refusal
    return paths


async def _outcome(path: str, client: Client) -> tuple[bool, int | None, str]:
    """(opened, close code, first frame): the consumer accepts first and then closes with its code."""
    from plant.tests.test_live_socket import _socket

    socket = _socket(path, client)
    await socket.send_input({"type": "websocket.connect"})
    first = await socket.receive_output(5)
    if first["type"] == "websocket.close":
        return False, first.get("code", 1000), ""
    try:
        second = await socket.receive_output(2)
    except TimeoutError:
        await socket.send_input({"type": "websocket.disconnect", "code": 1000})
        return True, None, ""
    if second["type"] == "websocket.close":
        return False, second.get("code", 1000), ""
    await socket.send_input({"type": "websocket.disconnect", "code": 1000})
    return True, None, second.get("text") or ""


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fast_hashing")
async def test_every_websocket_route_refuses_another_plant() -> None:
    one = await Plant.objects.acreate(name=P1_NAME)
    two = await Plant.objects.acreate(name="Betahof")
    await sync_to_async(publish)(_state(one, grid_w=4242.4, box="Alpha-Carport", inverter="Alpha-Roof"))
    await sync_to_async(publish)(_state(two, grid_w=1313.1, box="Beta-Carport", inverter="Beta-Roof"))

    def login(name: str, plant: Plant | None) -> Client:
        user = get_user_model().objects.create_user(name, password="Person-Pass-1")
        if plant is not None:
            Membership.objects.create(user=user, plant=plant, role="installer")
        return _client(user)

    bea = await sync_to_async(login)("bea", two)
    nora = await sync_to_async(login)("nora", None)
    paths = _websocket_paths(one.pk)
    assert any("/ws/plants/" in path for path in paths)
    for client in (bea, nora):
        for path in paths:
            opened, code, frame = await _outcome(path, client)
            assert not opened, (path, frame)
            assert code == 4403 or (code != 4401 and "/ws/plants/" not in path), (path, code)
    opened, _code, frame = await _outcome(f"/ws/plants/{two.pk}/live/", bea)
    assert opened, "her own plant's socket opens"
    assert "1313.1" in frame and not any(marker in frame for marker in P1_MARKERS)
