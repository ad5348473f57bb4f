"""CSV of the cost view: one row per bar, as shown on the overview (TAR-2)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer

COLUMNS = ("start", "end", "energy_kwh", "cost", "gap")


class CostsCsvRenderer(BaseRenderer):
    """The bars with a header row and the currency in the cost column's name; errors as field,message."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        context = renderer_context or {}
        response = context.get("response")
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if (
            (response is not None and response.status_code >= 400)
            or not isinstance(data, dict)
            or "buckets" not in data
        ):
            writer.writerow(["field", "message"])
            for field, messages in (data or {}).items():
                for message in messages if isinstance(messages, list) else [messages]:
                    writer.writerow([field, message])
            return out.getvalue().encode()
        writer.writerow(["start", "end", "energy_kwh", f"cost_{data['currency']}", "gap"])
        for bucket in data["buckets"]:
            writer.writerow(["" if bucket[c] is None else bucket[c] for c in COLUMNS])
        filename = f"costs-{data['direction']}-{data['period']}-{data['date']}.csv"
        if response is not None:
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return out.getvalue().encode()
