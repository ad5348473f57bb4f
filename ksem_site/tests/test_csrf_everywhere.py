"""CSRF is enforced on every form (ACC-5): no page view opts out, and a form posted without the
token changes nothing. API views are DRF's: a session-authenticated API request is CSRF-checked
by DRF itself; bearer-token requests carry no cookie to forge."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from portal.services import ensure_device_user


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def _is_api(callback: Any) -> bool:
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, APIView)


def test_no_page_view_opts_out_of_csrf() -> None:
    routes = list(_routes(get_resolver().url_patterns))
    assert len(routes) > 50, "the walk reaches the whole URL tree"
    exempt = [route for route, callback in routes if getattr(callback, "csrf_exempt", False) and not _is_api(callback)]
    assert exempt == []


@pytest.mark.django_db
def test_forms_posted_without_the_token_are_refused() -> None:
    ensure_device_user()
    client = Client(enforce_csrf_checks=True)
    # Every page whose route has no parameter, posted to without a token: never a change.
    routes = [
        "/" + route
        for route, callback in _routes(get_resolver().url_patterns)
        if "<" not in route
        and "(?" not in route
        and not route.startswith(("api/", "static/"))
        and not _is_api(callback)
    ]
    assert "/login/" in routes
    for path in routes:
        response = client.post(path, {"username": "installer", "password": "x"})
        assert response.status_code in (403, 404, 405), f"{path} answered {response.status_code} without a CSRF token"
