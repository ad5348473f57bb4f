"""The product version in every page's header (DEV-4)."""

from __future__ import annotations

from django.http import HttpRequest

from updates.version import VERSION


def product_version(request: HttpRequest) -> dict[str, str]:
    return {"product_version": VERSION}
