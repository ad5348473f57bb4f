"""CSV for the log endpoints (MET-5): the same data as the JSON, one row per interval."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer


class CsvRenderer(BaseRenderer):
    """Renders the view's table (``view.csv_rows_key``) with a header row; errors as field,message."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        context = renderer_context or {}
        view, response = context.get("view"), context.get("response")
        key = getattr(view, "csv_rows_key", None)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if (response is not None and response.status_code >= 400) or not isinstance(data, dict) or key not in data:
            writer.writerow(["field", "message"])
            for field, messages in (data or {}).items():
                for message in messages if isinstance(messages, list) else [messages]:
                    writer.writerow([field, message])
            return out.getvalue().encode()
        rows: list[dict[str, Any]] = data[key]
        columns = list(rows[0]) if rows else list(getattr(view, "csv_columns", ()))
        writer.writerow(columns)
        writer.writerows([row.get(column) for column in columns] for row in rows)
        filename = getattr(view, "csv_filename", None)
        if response is not None and filename:
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return out.getvalue().encode()
