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
from django.http import HttpResponse
from django.utils import translation
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema. ``lang``, ``version`` and ``format`` must be known values: anything
    else is 400 as JSON, so no value is cached or copied into a header; an ``Accept`` that no
    format satisfies is 406 as JSON.

    The schema is the same for everybody and changes only with the code, so it is generated once
    per process for each version and language, and rendered once per format (issue 14 part 6)."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        problems: dict[str, list[str]] = {}
        languages = [code for code, _name in settings.LANGUAGES]
        lang = request.query_params.get("lang")
        if lang is not None and lang not in languages:
            problems["lang"] = [f"Unknown language; use one of {', '.join(languages)}."]
        versions = list(api_settings.ALLOWED_VERSIONS or [])
        version = request.query_params.get("version")
        if version is not None and version not in versions:
            problems["version"] = [f"Unknown version; use one of {', '.join(versions)}."]
        formats = sorted({renderer.format for renderer in self.renderer_classes})
        wanted = request.query_params.get(api_settings.URL_FORMAT_OVERRIDE or "format")
        if wanted is not None and wanted not in formats:
            problems["format"] = [f"Unknown format; use one of {', '.join(formats)}."]
        if problems:
            raise ValidationError(problems)
        super().initial(request, *args, **kwargs)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            # Errors in JSON like everywhere under /api/, not in the schema's YAML.
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def get(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        lang = request.query_params.get("lang") or translation.get_language() or settings.LANGUAGE_CODE
        version = self.api_version or request.version or self._get_version_parameter(request)
        renderer, media_type = request.accepted_renderer, request.accepted_media_type
        key = (str(version), lang, type(renderer).__name__)
        cached = _rendered.get(key)
        if cached is None or media_type != renderer.media_type:
            data = _schemas.get(key[:2])
            if data is None:
                with translation.override(lang):
                    data = _schemas[key[:2]] = super().get(request, *args, **kwargs).data
            content = renderer.render(data, media_type, self.get_renderer_context())
            charset = renderer.charset
            content_type = f"{media_type}; charset={charset}" if charset else media_type
            disposition = f'inline; filename="{self._get_filename(request, version)}"'
            cached = (bytes(content), content_type, disposition)
            if media_type == renderer.media_type:  # not "application/json; indent=7"
                _rendered[key] = cached
        content, content_type, disposition = cached
        return HttpResponse(content, content_type=content_type, headers={"Content-Disposition": disposition})


# Bounded: versions and languages are checked above, renderers are the view's four.
_schemas: dict[tuple[str, str], Any] = {}
_rendered: dict[tuple[str, str, str], tuple[bytes, str, str]] = {}


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
