"""Every operation of /api/schema/, driven by schemathesis with an admin token: no 5xx, and every
answer (status, content type, body) as the schema documents it. Bounded examples per operation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access import services
from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
from plant import live
from plant.models import Plant
from portal.services import device_user, ensure_device_user
from tests.pages import publish

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


# Loaded once at collection: one test per operation. Operations that reach out to devices or the
# internet (detection on adding an inverter or changing its address, fetching prices, the MQTT
# connection test) stay out:
# with random hosts they would only measure DNS timeouts; their validation has tests of its own.
schema = (
    schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
    .exclude(method="POST", path_regex=r"inverters/$|/source$")
    .exclude(method=["PUT", "PATCH"], path_regex=r"inverters/\{inverter_id\}$")
    .exclude(method="POST", path_regex=r"mqtt/test$")
)


@pytest.fixture
def admin_token(db: None, settings: Any) -> Iterator[str]:
    """An admin token, a plant with a fresh snapshot and a beat tick (so health and state are up)."""
    ensure_device_user()
    user = device_user()
    assert user is not None
    plant = Plant.objects.create(name="Schema plant")
    settings.HEALTH_MAX_AGE_S = 3600.0
    live.mark_tick()
    publish(
        PlantState(
            plant_id=plant.pk, timestamp=timezone.now(), sequence=1, meter=None,
            meter_status=DeviceStatus(name="meter", online=True, last_seen=timezone.now()),
            flow=EnergyFlow(grid_power_w=None, pv_power_w=None, battery_power_w=None, battery_soc_pct=None,
                            house_power_w=None, wallbox_power_w=None),
            totals=EnergyCounters(),
        )
    )  # fmt: skip
    secret = services.create_token(
        name="schemathesis",
        role="admin",
        expires_on=timezone.now().date() + dt.timedelta(days=1),
        user=user,
        authorise=True,
    ).secret
    # As Django's test client does: the WSGI handler must not close the test's database connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield secret
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_answers_as_documented(case: schemathesis.Case, admin_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {admin_token}"}, checks=CHECKS)
