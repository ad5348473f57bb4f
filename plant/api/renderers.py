"""CSV for the log endpoints (MET-5): the same data as the JSON, one row per interval."""

from __future__ import annotations

from typing import Any

from access.renderers import CsvRenderer, CsvTable


class LogCsvRenderer(CsvRenderer):
    """Renders the view's table (``view.csv_rows_key``) with a header row; errors as field,message."""

    def table(self, data: dict[str, Any], view: Any) -> CsvTable | None:
        key = getattr(view, "csv_rows_key", None)
        if key not in data:
            return None
        rows: list[dict[str, Any]] = data[key]
        columns = list(rows[0]) if rows else list(getattr(view, "csv_columns", ()))
        return CsvTable(
            columns, [[row.get(column) for column in columns] for row in rows], getattr(view, "csv_filename", None)
        )
