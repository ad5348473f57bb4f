"""Security headers for every response, and the 400 answer for a malformed query parameter.

- ``Content-Security-Policy`` on every response that has none of its own: scripts and style
  elements only from this origin or carrying the request's nonce (``request.csp_nonce``, written
  into templates as ``nonce="{{ request.csp_nonce }}"``), the live websocket on this host,
  nothing framed, no plugins. Style *attributes* stay allowed (``style-src-attr``): the pages
  size their bars with them, and an attribute cannot load a script.
- ``Cache-Control: no-store`` on everything answered to a logged-in person or a bearer token, so
  a shared browser's back button or a proxy cannot show measurement data after a logout.
- A :class:`pages.params.BadQueryParameter` raised by a page or the API becomes a 400 that
  names the parameter: JSON under ``/api/``, a short page elsewhere.
"""

from __future__ import annotations

import secrets

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils.cache import patch_cache_control
from django.utils.deprecation import MiddlewareMixin
from django.utils.html import format_html
from django.utils.translation import gettext as _

from pages.params import BadQueryParameter

CSP_HEADER = "Content-Security-Policy"


def content_security_policy(nonce: str, host: str | None) -> str:
    # 'self' covers ws:/wss: of the same host only in CSP 3 browsers; name them for the rest.
    sockets = f" ws://{host} wss://{host}" if host else ""
    directives = (
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' 'nonce-{nonce}'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        f"connect-src 'self'{sockets}",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
    return "; ".join(directives)


def _host(request: HttpRequest) -> str | None:
    try:
        return request.get_host()
    except DisallowedHost:
        return None


def _logged_in(request: HttpRequest) -> bool:
    if "HTTP_AUTHORIZATION" in request.META:
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def bad_query_parameter(request: HttpRequest, error: BadQueryParameter) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({error.name: [error.problem]}, status=400)
    body = format_html(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{}</title></head>'
        '<body><h1>{}</h1><p data-testid="bad-parameter">{}</p><p><a href="{}">{}</a></p></body></html>',
        _("Bad request"),
        _("Bad request"),
        _("The query parameter %(name)s is not valid: it %(problem)s.")
        % {"name": error.name, "problem": error.problem},
        request.path,
        _("Open the page without it"),
    )
    return HttpResponseBadRequest(body)


class SecurityHeadersMiddleware(MiddlewareMixin):
    def process_request(self, request: HttpRequest) -> None:
        request.csp_nonce = secrets.token_urlsafe(16)  # type: ignore[attr-defined]

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, BadQueryParameter):
            return bad_query_parameter(request, exception)
        return None

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if CSP_HEADER not in response:
            nonce = getattr(request, "csp_nonce", None) or secrets.token_urlsafe(16)
            response[CSP_HEADER] = content_security_policy(nonce, _host(request))
        if _logged_in(request):
            patch_cache_control(response, no_store=True, private=True)
        return response
