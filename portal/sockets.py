"""The access check for live websockets (ACC-1, ACC-4): called once when a socket connects.

Channels' ``AuthMiddlewareStack`` gives the session's user but knows nothing of django-otp, so
the two-factor state is read from the session here.
"""

from __future__ import annotations

from typing import Any

from portal import roles, two_factor

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403


def refusal(scope: dict[str, Any], plant_id: int) -> int | None:
    """The close code for a socket that may not watch ``plant_id`` (None: it may).

    4401: nobody logged in, or the session has not entered the two-factor code its user needs.
    4403: the user has no role on this plant. Synchronous (database): wrap it in
    ``database_sync_to_async``.
    """
    user = scope.get("user")
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHORIZED
    if two_factor.needs_code(user) and not two_factor.session_verified_for(scope.get("session"), user):
        return CLOSE_UNAUTHORIZED
    if not roles.may_read(user, plant_id):
        return CLOSE_FORBIDDEN
    return None
