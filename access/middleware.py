"""An admin token opens the web interface as its installer would (ACC-5).

A page request that carries ``Authorization: Bearer <token>`` is authenticated as the token's
installer for that one request: no session is created, and the secret never travels in a URL.
A browser never sends that header across sites on its own, so such a request needs no CSRF token.
``/api/`` is left to the API's own authentication (one token check per request, not two).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.common import CommonMiddleware

from access import services
from access.models import AccessToken

API_PREFIX = "/api/"


class BearerTokenMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        presented = services.bearer_from_header(header) if header else None
        if presented is None or request.path.startswith(API_PREFIX):
            return self.get_response(request)
        try:
            token = services.check_token(presented)
        except services.TokenRejected as rejected:
            return _refused(401, rejected.reason)
        if token.role != AccessToken.Role.ADMIN:
            return _refused(403, "an api token reads the JSON API only; the web interface needs an admin token")
        request.user = services.act_as_verified(token.user)
        request.access_token = token  # type: ignore[attr-defined]
        request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)


def _refused(status: int, reason: str) -> JsonResponse:
    response = JsonResponse({"detail": reason}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="web"'
    return response


class ApiCommonMiddleware(CommonMiddleware):
    """Django's, except that an API path given without its trailing slash is served as if it had
    one (``/api/v1/plants`` answers like ``/api/v1/plants/``, a POST included) instead of being
    redirected with an empty HTML body; an API path that matches nothing either way is the API's
    JSON 404. Pages keep the redirect."""

    def process_request(self, request: HttpRequest) -> Any:
        if request.path_info.startswith(API_PREFIX) and self.should_redirect_with_slash(request):
            request.path_info += "/"
        return super().process_request(request)
