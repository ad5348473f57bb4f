"""The device status shown in every page header (DEV-9), standing in for the box's status LED."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.translation import gettext as _

from energy.state import PlantState
from pages.params import id_param
from pages.presentation import format_power
from plant import live, supervision
from plant.models import Plant
from plant.services import current_plant, visible_plants
from updates import releases

SWITCHER_MAX = 25


def _status(state: PlantState | None) -> dict[str, str]:
    if state is None:
        return {"state": "starting", "label": _("Starting"), "message": _("Waiting for the first measurement.")}
    age_s = (timezone.now() - state.timestamp).total_seconds()
    if age_s > settings.HEALTH_MAX_AGE_S:
        return {"state": "error", "label": _("Error"), "message": _("No cycle for %d s.") % age_s}
    if not state.meter_status.online:
        return {"state": "error", "label": _("Error"), "message": state.meter_status.error}
    return {"state": "ready", "label": _("Ready"), "message": ""}


def _update_running() -> dict[str, str] | None:
    """DEV-9: "update running" while a software update is being installed (DEV-4)."""
    try:
        job = releases.running_job()
    except Exception:  # noqa: BLE001 - the header must render even when Redis is down
        return None
    if job is None:
        return None
    return {"state": "update", "label": _("Update running"), "message": f"{job['progress_pct']:.0f} %"}


def device_status(request: HttpRequest) -> dict[str, Any]:
    """Always present, like the box's LED; details only for people who are logged in."""
    user = getattr(request, "user", None)
    signed_in = user is not None and user.is_authenticated
    if not signed_in:  # a malformed ?plant= is refused on every page, the login page too (400)
        id_param(request.GET, "plant")
    try:  # the LED of a login page is the first plant's; a person sees only a plant they may read
        plant = current_plant(request) if signed_in else Plant.objects.order_by("pk").first()
    except (PermissionDenied, BadRequest):  # this very page says why (403, 400)
        plant = None
    state = None
    try:
        state = live.read_state(plant.pk) if plant else None
        status = _status(state)
    except Exception as exc:  # noqa: BLE001 - the header must render even when Redis is down
        status = {"state": "error", "label": _("Error"), "message": str(exc)}
    problems = supervision.process_report(settings.VAR_DIR)["problems"]
    if problems:  # a process that keeps crashing is not hidden by its restarts
        status = {"state": "error", "label": _("Error"), "message": "; ".join(problems)}
    elif status["state"] != "error":
        status = _update_running() or status
    if not signed_in:
        return {"device_status": {**status, "message": ""}}
    readable = visible_plants(user)
    count = readable.count()
    return {
        "device_status": status,
        "current_plant": plant,
        # The header's switcher lists up to SWITCHER_MAX plants; beyond, it links to the plant
        # list (/plants/: search, filters, pages), so a page never renders hundreds of options.
        "plant_count": count,
        "plants": list(readable) if count <= SWITCHER_MAX else [],
        # Pages render times in the plant's zone (plant.middleware); the layout names it and hands
        # it, with the date format, to the page scripts so live times read like the server's.
        "time_zone_name": timezone.get_current_timezone_name(),
        "short_date_format": get_format("SHORT_DATE_FORMAT"),
        "grid_limit_notice": grid_limit_notice(state),
    }


def grid_limit_notice(state: PlantState | None) -> dict[str, str] | None:
    """SG-2: what the header says while the grid operator limits the plant (``None``: nothing)."""
    grid = state.grid_limits if state is not None else None
    if grid is None:
        return None
    if grid.failsafe:
        return {"kind": "failsafe", "text": _("Power limitation is active with failsafe values.")}
    parts = []
    if grid.lpc_w is not None:
        parts.append(_("purchase at most %(power)s") % {"power": format_power(grid.lpc_w)})
    if grid.lpp_w is not None:
        parts.append(_("feed-in at most %(power)s") % {"power": format_power(grid.lpp_w)})
    if not parts:
        return None
    return {
        "kind": "limited",
        "text": _("Power limitation by the grid operator is active: %(limits)s.") % {"limits": ", ".join(parts)},
    }
