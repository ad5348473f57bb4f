"""Who may call which API operation (ACC-2, ACC-4): one permission class for every view.

- no credentials: refused (401);
- an ``api`` token: reads everything but access management, changes nothing (403);
- an ``admin`` token or a session: as ``portal.roles`` says for the token's or session's user,
  on the plant named in the path (``plant_id``) and the area the view changes
  (``change_area``, default settings).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from access.models import AccessToken
from portal.roles import SETTINGS, may_change, role_of

API_TOKEN_READ_ONLY = "an api token may only read; changes need an admin token"
NO_ROLE = "you have no role on this plant"
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
        if token is not None and token.role == AccessToken.Role.API:
            self.message = API_TOKEN_READ_ONLY
            return safe
        plant = _plant(view)
        if safe:
            if plant is None:  # device-wide, or an unknown plant the view answers 404 for
                return True
            self.message = NO_ROLE
            return role_of(user, plant) is not None
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
