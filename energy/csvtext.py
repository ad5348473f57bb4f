"""CSV text the one way the product writes it (pure, no Django): a header row, then the rows,
``\\n`` between lines. The API's CSV renderer (``access/renderers.py``) and the price files use it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> str:
    """The header and the rows as CSV; ``None`` is written as an empty field."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()
