"""The installer's plant list page (``/plants/``, issue 18.3): status at a glance, search, filters, pages."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from pages.presentation import format_power, live_page_context
from plant import plantlist


def power_text(power_w: float | None) -> str:
    """Power at the grid connection point with its direction: purchase (+) or feed-in (-)."""
    if power_w is None:
        return "–"
    direction = _("purchase") if power_w >= 0 else _("feed-in")
    return f"{format_power(power_w)} {direction}"


@login_required
@require_GET
def plant_list(request: HttpRequest) -> HttpResponse:
    filters = plantlist.parse_filters(request.GET)
    page = plantlist.plant_page(request.user, filters, plantlist.page_number(request.GET), timezone.now())
    context = live_page_context(request)
    rows = [{"row": row, "power_text": power_text(row.status.grid_power_w)} for row in page.object_list]
    context |= {"page": page, "rows": rows, "filters": filters, "query": filters.as_query()}
    return render(request, "plant/list.html", context)
