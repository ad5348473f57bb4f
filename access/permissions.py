"""Who may call which API operation (ACC-2, ACC-4): one permission class for every view.

- no credentials: refused (401);
- an ``api`` token: reads what its user may read, but not access management; changes nothing (403);
- reading: ``portal.roles.may_read`` for the token's or session's user on the plant named in the
  path (``plant_id``); an operation of the device as a whole (Modbus) needs a role on every
  plant, unless the view sets ``shows_only_readable_plants`` and filters itself (the plant list,
  the Modbus map);
- an ``admin`` token or a session changing something: as ``portal.roles.may_change`` says on that
  plant and the area the view changes (``change_area``, default settings).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from access.models import AccessToken
from portal.roles import SETTINGS, may_change, may_read

API_TOKEN_READ_ONLY = "an api token may only read; changes need an admin token"
NO_ROLE = "you have no role on this plant"
EVERY_PLANT = "this concerns every plant; it needs a role on each of them"
NOT_YOURS = "your role may not change this"
INSTALLERS_ONLY = "only an installer manages access tokens"


def _plant(view: Any) -> Any:
    plant_id = getattr(view, "kwargs", {}).get("plant_id")
    if plant_id is None:
        return None
    return apps.get_model("plant", "Plant").objects.filter(pk=plant_id).first()


def _token(request: Request) -> AccessToken | None:
    return request.auth if isinstance(request.auth, AccessToken) else None


class ApiAccess(BasePermission):
    message = NOT_YOURS

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        token = _token(request)
        safe = request.method in SAFE_METHODS
        if token is not None and token.role == AccessToken.Role.API and not safe:
            self.message = API_TOKEN_READ_ONLY
            return False
        plant = _plant(view)
        if safe:
            # Reading: portal.roles.may_read, the same check as pages and websockets.
            if "plant_id" in getattr(view, "kwargs", {}):
                if plant is None:  # an unknown plant: the view answers 404
                    return True
                self.message = NO_ROLE
                return may_read(user, plant)
            if getattr(view, "shows_only_readable_plants", False):  # the view filters per plant itself
                return True
            self.message = EVERY_PLANT
            return may_read(user, None)
        self.message = NOT_YOURS
        return may_change(user, plant, getattr(view, "change_area", SETTINGS))


class InstallerOnly(BasePermission):
    """Access management: installers (sessions or admin tokens) only, reading included."""

    message = INSTALLERS_ONLY

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        token = _token(request)
        if token is not None and token.role == AccessToken.Role.API:
            return False
        return may_change(user, None, SETTINGS)
