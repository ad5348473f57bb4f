"""The one CSV renderer of the API (``?format=csv``): a table with a header row, or the errors
as ``field,message`` rows, the file offered as a download under the name the table gives."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rest_framework.renderers import BaseRenderer

from energy.csvtext import csv_text


@dataclass(frozen=True)
class CsvTable:
    header: Sequence[Any]
    rows: Sequence[Sequence[Any]]
    filename: str | None = None


class CsvRenderer(BaseRenderer):
    """Renders what ``table`` makes of a successful answer; anything else as field,message rows."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def table(self, data: dict[str, Any], view: Any) -> CsvTable | None:
        """The table of a successful answer, or None where ``data`` holds none (then: errors)."""
        raise NotImplementedError

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        context = renderer_context or {}
        view, response = context.get("view"), context.get("response")
        failed = response is not None and response.status_code >= 400
        table = None if failed or not isinstance(data, dict) else self.table(data, view)
        if table is None:
            return csv_text(["field", "message"], _error_rows(data)).encode()
        if response is not None and table.filename:
            response["Content-Disposition"] = f'attachment; filename="{table.filename}"'
        return csv_text(table.header, table.rows).encode()


def _error_rows(data: Any) -> Iterator[list[Any]]:
    for field, messages in (data or {}).items():
        for message in messages if isinstance(messages, list) else [messages]:
            yield [field, message]
