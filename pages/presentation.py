"""Formatting and live-page context shared by every page that shows the plant's live values."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from energy import snapshot
from energy.state import PlantState
from portal.roles import request_plant
from redisconn.snapshots import read_state

logger = logging.getLogger(__name__)

# Below this a flow is drawn as idle: meters report a few watts of noise at rest.
IDLE_POWER_W = 10.0


def format_number(value: float, decimals: int) -> str:
    """Localized (separators of the active language) and rounded like Intl.NumberFormat in the browser.

    Intl rounds the shortest decimal form of the number (what str() gives in both languages)
    half away from zero, and shows no "-0"; Django's number_format would only truncate.
    """
    step = Decimal(1).scaleb(-decimals)
    rounded = Decimal(str(value)).quantize(step, rounding=ROUND_HALF_UP)
    if rounded.is_zero():
        rounded = abs(rounded)
    return formats.number_format(rounded, decimals, use_l10n=True, force_grouping=True)


def format_power(power_w: float | None) -> str:
    """Magnitude only: the direction is told by the caption and the flow line."""
    if power_w is None:
        return "–"
    magnitude = abs(power_w)
    if round(magnitude) < 1000:
        return f"{format_number(magnitude, 0)} W"
    return f"{format_number(magnitude / 1000, 2)} kW"


def format_energy_kwh(energy_wh: float | None) -> str:
    return "–" if energy_wh is None else f"{format_number(energy_wh / 1000, 2)} kWh"


def current_plant(request: HttpRequest) -> Any:
    """The plant the page is about (``plant.services.current_plant``, handed to the portal at
    start-up): a ``plant.models.Plant`` or None."""
    return request_plant(request)


def safe_read_state(plant: Any) -> tuple[PlantState | None, bool]:
    """The latest snapshot and whether the live store answered; a Redis outage must not break the page."""
    if plant is None:
        return None, True
    try:
        return read_state(plant.pk), True
    except redis.RedisError:
        logger.warning("live store unreachable while rendering plant %s", plant.pk, exc_info=True)
        return None, False


def live_labels() -> dict[str, str]:
    """Texts the page scripts need, translated here because the scripts have no catalog of their own."""
    return {
        "connecting": _("Connecting…"),
        "live": _("Live"),
        "connectionLost": _("Connection lost – reconnecting…"),
        "sessionEnded": _("Logged out – reload the page to log in again"),
        "waiting": _("Waiting for the first measurement"),
        "lastUpdate": _("Last update"),
        "stale": _("No new measurement since"),
        "meterOnline": _("Meter online"),
        "meterOfflineSince": _("Meter offline since"),
        "notConfigured": _("not configured"),
        "purchase": _("Purchase"),
        "feedIn": _("Feed-in"),
        "charging": _("Charging"),
        "discharging": _("Discharging"),
        "idle": _("Idle"),
        "consumption": _("Consumption"),
        "production": _("Production"),
    }


def live_page_context(request: HttpRequest) -> dict[str, Any]:
    """What the base layout and any live page need: the plant (and others to switch to) and its snapshot."""
    plant = current_plant(request)
    state, store_ok = safe_read_state(plant)
    timestamp = state.timestamp if state else None
    meter_status = state.meter_status if state else None
    offline_since = meter_status.offline_since if meter_status else None
    # The list of plants for the header's switcher comes from plant.context_processors.
    return {
        "plant": plant,
        "state": state,
        # What the page script starts from: exactly what the websocket sends (energy.snapshot).
        "initial_state": snapshot.to_data(state) if state else None,
        "live_store_ok": store_ok,
        "timestamp": timestamp,
        "timestamp_iso": timestamp.isoformat() if timestamp else "",
        "is_stale": bool(timestamp and (timezone.now() - timestamp).total_seconds() > settings.HEALTH_MAX_AGE_S),
        "meter_status": meter_status,
        "meter_offline_since": offline_since,
        "meter_offline_since_iso": offline_since.isoformat() if offline_since else "",
        "live_labels": live_labels(),
        "live_config": {
            "plantId": plant.pk if plant else None,
            # Websocket routes cannot be reversed; this one is plant.routing's.
            "socketPath": f"/ws/plants/{plant.pk}/live/" if plant else None,
            "historyUrl": reverse("api-plant-history", args=[plant.pk]) + "?hours=24" if plant else None,
            # The same limit as the header badge and /api/health: a snapshot older than this
            # means the cycle stopped, and the page says so instead of showing old numbers as current.
            "staleAfterS": settings.HEALTH_MAX_AGE_S,
            "idlePowerW": IDLE_POWER_W,
        },
    }
