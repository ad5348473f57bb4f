"""Plant-level helpers for requests: which plant a page or API call is about."""

from __future__ import annotations

from django.http import HttpRequest

from plant.models import Plant
from plant.params import checked_id, id_param

SESSION_PLANT_KEY = "plant_id"


def active_plant_ids() -> list[int]:
    return list(Plant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


def current_plant(request: HttpRequest) -> Plant | None:
    """The plant a page is about: ``?plant=<id>``, else the one chosen before, else the first.

    With a single plant nobody ever has to pick one (PL-1). Looked up once per request: the
    header and the page both ask.
    """
    if not hasattr(request, "_current_plant"):
        request._current_plant = _find_plant(request)  # type: ignore[attr-defined]
    plant: Plant | None = request._current_plant  # type: ignore[attr-defined]
    return plant


def _find_plant(request: HttpRequest) -> Plant | None:
    plants = Plant.objects.order_by("pk")
    # A malformed ?plant= is refused (400); a well-formed id of no plant falls back to the first.
    wanted = id_param(request.GET, "plant") or checked_id(request.session.get(SESSION_PLANT_KEY))
    if wanted is not None:
        plant = plants.filter(pk=wanted).first()
        if plant is not None:
            request.session[SESSION_PLANT_KEY] = plant.pk
            return plant
    return plants.first()
