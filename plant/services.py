"""Plant-level helpers for requests: which plant a page or API call is about."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from pages.params import checked_id, id_param
from plant.models import Plant
from portal import roles

SESSION_PLANT_KEY = "plant_id"


def active_plant_ids() -> list[int]:
    return list(Plant.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))


def current_plant(request: HttpRequest) -> Plant | None:
    """The plant a page is about: ``?plant=<id>``, else the one chosen before, else the first,
    always among the plants the user may read (``portal.roles.may_read``).

    ``?plant=`` naming a plant the user has no role on is refused (``PermissionDenied``, 403),
    and so is a person without a role on any plant; ``None`` only when there is no plant at all.
    With a single plant nobody ever has to pick one (PL-1). Looked up once per request: the
    header and the page both ask.
    """
    if not hasattr(request, "_current_plant"):
        request._current_plant = _find_plant(request)  # type: ignore[attr-defined]
    plant: Plant | None = request._current_plant  # type: ignore[attr-defined]
    return plant


def visible_plants(user: Any) -> QuerySet[Plant]:
    """The plants ``user`` may read, in order (the header's plant switcher, the API's plant list)."""
    plants = Plant.objects.order_by("pk")
    readable = roles.readable_plant_ids(user)
    return plants if readable is None else plants.filter(pk__in=readable)


def _find_plant(request: HttpRequest) -> Plant | None:
    user = getattr(request, "user", None)
    plants = visible_plants(user)
    # A malformed ?plant= is refused (400); a well-formed id of no plant falls back to the first.
    asked = id_param(request.GET, "plant")
    if asked is not None and Plant.objects.filter(pk=asked).exists():
        roles.check_read(user, asked)  # another plant's: 403, whatever else is chosen
    wanted = asked or checked_id(request.session.get(SESSION_PLANT_KEY))
    if wanted is not None:
        plant = plants.filter(pk=wanted).first()
        if plant is not None:
            request.session[SESSION_PLANT_KEY] = plant.pk
            return plant
    first = plants.first()
    if first is None and Plant.objects.exists():
        raise PermissionDenied(roles.NO_ROLE_ANYWHERE)
    return first
