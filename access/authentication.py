"""``Authorization: Bearer <token>`` for the JSON API (ACC-2)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from access import services


class BearerTokenAuthentication(BaseAuthentication):
    """The token's installer as ``request.user``, the token as ``request.auth``; a bad token is 401."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        presented = services.bearer_from_header(request.META.get("HTTP_AUTHORIZATION", ""))
        if presented is None:
            return None
        try:
            token = services.check_token(presented)
        except services.TokenRejected as rejected:
            raise AuthenticationFailed(rejected.reason) from None
        return services.act_as_verified(token.user), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "access.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An access token: ksem_<prefix>_<secret>"}
