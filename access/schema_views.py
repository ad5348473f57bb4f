"""The OpenAPI schema at /api/schema/ and its Swagger UI at /api/docs/ (ACC-3).

Kept apart from ``access.rest``: drf-spectacular's views read the REST framework settings when
imported, and those settings name classes in ``access.rest``.
"""

from __future__ import annotations

import base64
import hashlib
import re
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


INLINE_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def docs_policy(page: str) -> str:
    """The Content-Security-Policy of the docs page: the site's rules, with the page's own inline
    style elements allowed by their SHA-256 (Swagger UI's template has one) and nothing else inline."""
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'"
        for style in INLINE_STYLE.findall(page)
    )
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self'{hashes}",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI from the bundled assets, its script a file of its own (no inline script); the
    page sends its own CSP (the site's middleware leaves a response that has one alone)."""

    url_name = "api-schema"

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().dispatch(request, *args, **kwargs)
        if response.status_code == 200 and response.get("Content-Type", "").startswith("text/html"):
            if hasattr(response, "render"):
                response.render()
            response["Content-Security-Policy"] = docs_policy(bytes(getattr(response, "content", b"")).decode())
        return response
