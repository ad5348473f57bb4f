"""The one style of the JSON API (ACC-3): pagination, path ids, errors as JSON, the schema.

Every API module uses these, so a list pages the same way, a malformed id is the same 404 and
the schema documents the same error shapes everywhere.
"""

from __future__ import annotations

from typing import Any

import redis
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import register_converter
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

from portal import roles

API_PREFIX = "/api/"
MAX_ID = 999_999_999_999_999_999  # 18 digits: every such id fits a 64-bit primary key


class IdConverter:
    """``<id:plant_id>``: ASCII digits only and small enough for the database, so a malformed or
    huge id is a plain 404 instead of a database overflow."""

    regex = "[0-9]{1,18}"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int | str) -> str:
        return str(value)


register_converter(IdConverter, "id")
ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": MAX_ID}


def _bounded_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise serializers.ValidationError({name: [f"Give a whole number from {low} to {high}."]})
    return int(raw)


class Pagination(LimitOffsetPagination):
    """``?limit=`` (1-1000, default 100) and ``?offset=``; a bad value is 400 naming it, never ignored."""

    default_limit = 100
    max_limit = 1000
    max_offset = 1_000_000_000

    def get_limit(self, request: Request) -> int:
        return _bounded_int(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _bounded_int(request, self.offset_query_param, 0, 0, self.max_offset)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset, "default": 0},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters


class ErrorSerializer(serializers.Serializer[dict[str, str]]):
    detail = serializers.CharField()


FIELD_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The fields that were refused, each with its messages.",
    "additionalProperties": True,
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Documented error answers for ``extend_schema(responses={..., **errors(400, 404)})``."""
    described = {
        400: OpenApiResponse(dict, description="A parameter or field was refused; the body names it."),
        404: OpenApiResponse(ErrorSerializer, description="No such plant (or object)."),
        503: OpenApiResponse(ErrorSerializer, description="No measurement yet."),
    }
    return {code: described[code] for code in codes}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Postprocessing hook: every operation documents 401/403, 404 where the path has a parameter,
    400 where it takes a body, a query parameter or a free-form path parameter. The same JSON shapes are answered everywhere."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    schemas.setdefault("FieldErrors", FIELD_ERRORS_SCHEMA)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "put", "patch", "post", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            if operation.get("security") != [{}]:  # [{}]: open to everybody (health)
                responses.setdefault("401", _error_response("Error", "No, or an invalid, credential."))
                responses.setdefault("403", _error_response("Error", "The credential may not do this."))
            if "{" in path:
                responses.setdefault("404", _error_response("Error", "Not found."))
            if operation.get("requestBody") or any(_may_be_refused(p) for p in operation.get("parameters", [])):
                responses.setdefault("400", _error_response("FieldErrors", "Refused; the body names why."))
            if "text/csv" in responses.get("200", {}).get("content", {}):
                # ?format=csv answers its errors as field,message rows too.
                for code, response in responses.items():
                    if code.startswith("4"):
                        response.setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}
    return result


def _error_response(component: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{component}"}}},
    }


def _may_be_refused(parameter: dict[str, Any]) -> bool:
    """A query parameter, or a path parameter that is not an id (an id that matches nothing is 404)."""
    return parameter.get("in") != "path" or parameter.get("schema", {}).get("type") != "integer"


def only_versioned_paths(endpoints: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Preprocessing hook: the schema lists the canonical /api/v1/ paths; the unversioned aliases
    answer the same and are documented in docs/api.md."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(f"{API_PREFIX}v1/")]


def _api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _api(request):
        return defaults.bad_request(request, exception)
    reason = "invalid Host header" if isinstance(exception, DisallowedHost) else "malformed request"
    return JsonResponse({"detail": reason}, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _api(request):
        message = str(exception)
        if message and hasattr(request, "user"):  # a refusal that says why (portal.roles): the site's 403 page
            return roles.forbidden(request, None, message)
        return defaults.permission_denied(request, exception)
    return JsonResponse({"detail": "You do not have permission to perform this action."}, status=403)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _api(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": "Not found."}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if not _api(request):
        return defaults.server_error(request)
    return JsonResponse({"detail": "internal error; it has been logged"}, status=500)


# --- exceptions inside API views -------------------------------------------------------------

RETRY_AFTER_S = 5  # the embedded Redis is back within about 2 s of a restart (bench/recovery.py)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Any:
    """REST framework's handler, and: the live data store not answering is 503 with
    ``Retry-After`` (as ``/api/health`` reports it), not a 500, on every endpoint that reads it."""
    from rest_framework.response import Response
    from rest_framework.views import exception_handler as framework_handler

    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return Response(
            {"detail": "the live data store (Redis) does not answer; try again shortly"},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return framework_handler(exc, context)


@extend_schema_field({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?$", "example": "16:00"})
class LocalTimeField(serializers.TimeField):
    """A local time of day, ``HH:MM`` (``HH:MM:SS`` accepted): no offset, it is the plant's local
    time. JSON Schema's ``time`` format would demand one, so the schema names the pattern."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("format", "%H:%M")
        kwargs.setdefault("input_formats", ["%H:%M", "%H:%M:%S"])
        super().__init__(**kwargs)
