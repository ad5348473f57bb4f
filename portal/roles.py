"""Who may do what (ACC-4): the one place pages, the API and websockets ask.

Roles are per plant: an *installer* may change everything; an *operator* may watch, choose
charging modes and edit tariffs, and read the rest. The areas a change belongs to:
"settings" (devices, plant, Modbus, mains, access), "charging" (wallbox modes, pause/restart,
Time Mode), "tariffs".

The device account and superusers are installers on every plant. Everybody else has the role
a ``portal.Membership`` gives them on that plant, or none. ``plant`` may be a ``Plant``, its
primary key, or ``None`` for something that belongs to the device as a whole (Modbus, people):
there a person is an installer only if they are one on every plant, an operator if they have
any role, else nothing.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy

INSTALLER = "installer"
OPERATOR = "operator"
ROLES = (INSTALLER, OPERATOR)

SETTINGS = "settings"
CHARGING = "charging"
TARIFFS = "tariffs"
AREAS = (SETTINGS, CHARGING, TARIFFS)
OPERATOR_AREAS = frozenset({CHARGING, TARIFFS})

# What a refused read says, on pages and in the API (the same words everywhere).
NO_ROLE = gettext_lazy("You have no role on this plant.")
NO_ROLE_ANYWHERE = gettext_lazy("You have no role on any plant. Ask an installer to give you one.")
NOT_EVERY_PLANT = gettext_lazy("This concerns every plant; it needs a role on each of them.")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CACHE_ATTRIBUTE = "_portal_roles"

PlantResolver = Callable[..., Any]
_request_plant: Callable[[HttpRequest], Any] | None = None


def is_installer_everywhere(user: Any) -> bool:
    """The device account and superusers: they need no membership."""
    from portal.services import DEVICE_USERNAME

    return bool(user.is_superuser or user.get_username() == DEVICE_USERNAME)


def _memberships(user: Any) -> dict[int, str]:
    """{plant id: role}, read once per user object (one request)."""
    cached: dict[int, str] | None = getattr(user, _CACHE_ATTRIBUTE, None)
    if cached is None:
        from portal.models import Membership

        cached = dict(Membership.objects.filter(user_id=user.pk).values_list("plant_id", "role"))
        with contextlib.suppress(AttributeError):  # a user object that takes no attributes: ask again next time
            setattr(user, _CACHE_ATTRIBUTE, cached)
    return cached


def _plant_id(plant: Any) -> int | None:
    if plant is None:
        return None
    if isinstance(plant, int):
        return plant
    return int(plant.pk)


def role_of(user: Any, plant: Any) -> str | None:
    """The user's role on ``plant`` (None: no access). The device account is an installer."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return None
    if is_installer_everywhere(user):
        return INSTALLER
    memberships = _memberships(user)
    plant_id = _plant_id(plant)
    if plant_id is not None:
        return memberships.get(plant_id)
    if not memberships:
        return None
    from django.apps import apps

    all_plants = set(apps.get_model("plant", "Plant").objects.values_list("pk", flat=True))
    installer_on = {pk for pk, role in memberships.items() if role == INSTALLER}
    return INSTALLER if all_plants and all_plants <= installer_on else OPERATOR


def readable_plant_ids(user: Any) -> frozenset[int] | None:
    """The plants ``user`` may read: ``None`` means every plant (device account, superusers);
    otherwise the ids of the plants they have a role on (empty: none, and nobody logged in)."""
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return frozenset()
    if is_installer_everywhere(user):
        return None
    return frozenset(_memberships(user))


def may_read(user: Any, plant: Any) -> bool:
    """May ``user`` see anything of ``plant``? THE read check of pages, the API and websockets.

    A plant (or its id): a role on it. ``None``, the device as a whole (Modbus, people, the
    HTTPS certificate; they name every plant's devices and people): a role on every plant.
    """
    readable = readable_plant_ids(user)
    if readable is None:
        return True
    plant_id = _plant_id(plant)
    if plant_id is not None:
        return plant_id in readable
    if not readable:
        return False
    from django.apps import apps

    return set(apps.get_model("plant", "Plant").objects.values_list("pk", flat=True)) <= readable


def check_read(user: Any, plant: Any) -> None:
    """``may_read`` or ``PermissionDenied`` (403, the same page or JSON everywhere)."""
    if not may_read(user, plant):
        raise PermissionDenied(NO_ROLE if plant is not None else NOT_EVERY_PLANT)


def plant_object_or_404(queryset: type[Model] | QuerySet[Any], user: Any, **lookup: Any) -> Any:
    """An object of some plant by its id (``/inverters/<pk>/``): 404 if there is none, 403 if it
    belongs to a plant ``user`` may not read. The object needs a ``plant_id``."""
    found = get_object_or_404(queryset, **lookup)
    check_read(user, found.plant_id)
    return found


def may_change(user: Any, plant: Any, area: str) -> bool:
    """May ``user`` change things of ``area`` on ``plant``? Installers everything, operators
    charging and tariffs, nobody else anything."""
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}; use one of {', '.join(AREAS)}")
    role = role_of(user, plant)
    if role == INSTALLER:
        return True
    return role == OPERATOR and area in OPERATOR_AREAS


def use_request_plant(resolver: Callable[[HttpRequest], Any]) -> None:
    """How ``require`` finds the plant a request is about (set once at start-up by plant's AppConfig.ready())."""
    global _request_plant
    _request_plant = resolver


def request_plant(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
    """The plant the page is about (the header's current plant). Without a resolver (plant's
    AppConfig.ready() did not run) it refuses rather than let a page skip its plant's check."""
    if _request_plant is None:
        raise ImproperlyConfigured(
            "no plant resolver: the plant app must be installed (portal.roles.use_request_plant)"
        )
    return _request_plant(request)


def whole_device(request: HttpRequest, *args: Any, **kwargs: Any) -> None:
    """For ``require(..., plant_of=whole_device)``: settings of the device, not of one plant."""
    return None


def forbidden(request: HttpRequest, area: str | None, message: str = "") -> HttpResponse:
    """The 403 page: a change the role may not make (``area``), or a read refused with ``message``."""
    role = role_of(request.user, None)
    context = {"area": area, "role": role, "message": message}
    return render(request, "portal/forbidden.html", context, status=403)


def _checked_plant(request: HttpRequest, plant_of: PlantResolver, args: Any, kwargs: Any) -> Any:
    plant = plant_of(request, *args, **kwargs)
    if plant is not None or plant_of is whole_device:  # None otherwise: no such object (404 follows)
        check_read(request.user, plant)
    return plant


def require_read(plant_of: PlantResolver = request_plant) -> Callable[[Callable[..., HttpResponse]], Any]:
    """View decorator for pages that only show something: logged in, and ``may_read`` on the
    plant ``plant_of`` names (as for ``require``), else 403."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            _checked_plant(request, plant_of, args, kwargs)
            return view(request, *args, **kwargs)

        return guarded

    return decorator


def require(area: str, plant_of: PlantResolver = request_plant) -> Callable[[Callable[..., HttpResponse]], Any]:
    """View decorator: a change (any method but GET/HEAD/OPTIONS) needs ``may_change`` for ``area``.

    Reading needs ``may_read`` on the same plant (403 otherwise): a role on it, or for
    ``whole_device`` a role on every plant. ``plant_of(request, *args,
    **kwargs)`` names the plant the request is about: by default the page's current plant; pass
    a function that looks up the object's plant for views with a primary key, or
    ``whole_device`` for device-wide settings. A refused change gets 403 and changes nothing.
    For class-based views use ``method_decorator(require(area), name="dispatch")``.
    """
    if area not in AREAS:
        raise ValueError(f"unknown area {area!r}; use one of {', '.join(AREAS)}")

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            plant = _checked_plant(request, plant_of, args, kwargs)
            if request.method not in SAFE_METHODS and not may_change(request.user, plant, area):
                return forbidden(request, area)
            return view(request, *args, **kwargs)

        guarded.required_area = area  # type: ignore[attr-defined]
        return guarded

    return decorator
