"""The OpenAPI schema at /api/schema/ and its Swagger UI at /api/docs/ (ACC-3).

Kept apart from ``access.rest``: drf-spectacular's views read the REST framework settings when
imported, and those settings name classes in ``access.rest``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.settings import api_settings


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema. ``lang`` and ``version`` must be known values: anything else is 400,
    so no value is cached (a translation per language) or copied into a header."""

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        problems: dict[str, list[str]] = {}
        languages = [code for code, _name in settings.LANGUAGES]
        lang = request.query_params.get("lang")
        if lang is not None and lang not in languages:
            problems["lang"] = [f"Unknown language; use one of {', '.join(languages)}."]
        versions = list(api_settings.ALLOWED_VERSIONS or [])
        version = request.query_params.get("version")
        if version is not None and version not in versions:
            problems["version"] = [f"Unknown version; use one of {', '.join(versions)}."]
        if problems:
            return JsonResponse(problems, status=400)
        return super().get(request, *args, **kwargs)


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from the bundled assets, its script a file of its own (no inline script)."""

    url_name = "api-schema"
