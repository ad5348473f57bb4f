"""The licences page (DEV-9), linked from every page's footer."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from ksem_site.licences import components


@login_required
@require_GET
def licences(request: HttpRequest) -> HttpResponse:
    found = components()
    return render(
        request,
        "site/licences.html",
        {
            "python_components": [c for c in found if c.kind == "python"],
            "browser_components": [c for c in found if c.kind == "browser"],
        },
    )
