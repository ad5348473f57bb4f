"""CSV of the cost view: one row per bar, as shown on the overview (TAR-2)."""

from __future__ import annotations

from typing import Any

from access.renderers import CsvRenderer, CsvTable

COLUMNS = ("start", "end", "energy_kwh", "cost", "gap")


class CostsCsvRenderer(CsvRenderer):
    """The bars with a header row and the currency in the cost column's name; errors as field,message."""

    def table(self, data: dict[str, Any], view: Any) -> CsvTable | None:
        if "buckets" not in data:
            return None
        return CsvTable(
            ["start", "end", "energy_kwh", f"cost_{data['currency']}", "gap"],
            [["" if bucket[c] is None else bucket[c] for c in COLUMNS] for bucket in data["buckets"]],
            f"costs-{data['direction']}-{data['period']}-{data['date']}.csv",
        )
