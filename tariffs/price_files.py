"""Dynamic prices from a CSV file or a JSON document, checked line by line. Pure: no Django.

CSV: a header ``start,end,price`` then one line per hour or quarter hour, times in ISO 8601 with
their UTC offset (``2026-03-29T01:00:00+01:00``), the price per kWh with a decimal point. Lines
must follow each other without overlap or hole. Negative prices are real (day-ahead markets) and
accepted. A file with any bad line is refused as a whole, with the line named.

JSON: ``{"prices": [{"start": ..., "end": ..., "price": ...}, ...]}`` (or the bare list), the same
rules; a price may be a number or a decimal string.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from energy.csvtext import csv_text
from tariffs.pricing import PricePoint

COLUMNS = ("start", "end", "price")
LENGTHS = (dt.timedelta(minutes=15), dt.timedelta(hours=1))
MAX_ABS_PRICE = Decimal(1000)
MAX_LINES = 100_000


class PriceFileError(ValueError):
    """A price file that cannot be taken; ``line`` is 1-based (the CSV header is line 1), 0 for the whole file."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}" if line else message)


def _time(text: str, line: int, name: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise PriceFileError(line, f"{name} {text!r} is not a time in ISO 8601") from None
    if moment.tzinfo is None:
        raise PriceFileError(line, f"{name} {text!r} has no UTC offset")
    return moment.astimezone(dt.UTC)


def _price(text: Any, line: int) -> Decimal:
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise PriceFileError(line, f"price {text!r} is not a number")
    try:
        price = Decimal(str(text).strip())
    except InvalidOperation:
        raise PriceFileError(line, f"price {text!r} is not a number") from None
    if not price.is_finite() or abs(price) > MAX_ABS_PRICE:
        raise PriceFileError(line, f"price {text!r} is not a plausible price per kWh")
    return price


def check_points(rows: Iterable[tuple[int, Any, Any, Any]]) -> list[PricePoint]:
    """Turn (line, start, end, price) into price points, refusing the first bad line."""
    points: list[PricePoint] = []
    for line, start_text, end_text, price_text in rows:
        start, end = _time(str(start_text), line, "start"), _time(str(end_text), line, "end")
        if end - start not in LENGTHS:
            raise PriceFileError(line, "a price must cover a quarter hour or an hour")
        if start.minute % 15 or start.second or start.microsecond:
            raise PriceFileError(line, "a price must start on a full quarter hour")
        price = _price(price_text, line)
        if points:
            previous = points[-1]
            if start < previous.end:
                raise PriceFileError(line, f"overlaps the line before (which ends at {previous.end.isoformat()})")
            if start > previous.end:
                raise PriceFileError(line, f"hours missing between {previous.end.isoformat()} and {start.isoformat()}")
        points.append(PricePoint(start=start, end=end, price=price))
        if len(points) > MAX_LINES:
            raise PriceFileError(line, f"more than {MAX_LINES} prices in one file")
    if not points:
        raise PriceFileError(0, "the file holds no prices")
    return points


def parse_csv(source: str | IO[bytes]) -> list[PricePoint]:
    """Text, or a binary file read as UTF-8 (a BOM allowed) line by line: the file is never held
    whole, and a bad line stops the reading there."""
    wrapper = None
    if isinstance(source, str):
        text: IO[str] = io.StringIO(source.lstrip("\ufeff"))
    else:
        text = wrapper = io.TextIOWrapper(source, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(text)
    header_seen = False

    def rows() -> Iterator[tuple[int, Any, Any, Any]]:
        nonlocal header_seen
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise PriceFileError(reader.line_num, _csv_problem(error)) from None
            number = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if not header_seen:
                if tuple(f.strip().lower() for f in fields) != COLUMNS:
                    shown = ",".join(fields)
                    shown = shown if len(shown) <= 80 else shown[:80] + "…"
                    raise PriceFileError(number, f"the header must be {','.join(COLUMNS)}, not {shown}")
                header_seen = True
                continue
            if len(fields) != len(COLUMNS):
                raise PriceFileError(
                    number, f"expected {len(COLUMNS)} columns (start, end, price), found {len(fields)}"
                )
            yield number, fields[0], fields[1], fields[2]

    try:
        return check_points(rows())
    except PriceFileError as error:
        if error.line == 0 and not header_seen:
            raise PriceFileError(0, "the file is empty") from None
        raise
    finally:
        if wrapper is not None:
            wrapper.detach()  # the upload stays open for whoever owns it


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return f"a field is longer than {csv.field_size_limit()} characters; a line holds start,end,price"
    return f"not CSV: {error}"


def parse_json(data: Any) -> list[PricePoint]:
    """A decoded JSON document (or its text); entries are numbered from 1 as "line"."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError as error:
            raise PriceFileError(0, f"not JSON: {error}") from None
    entries = data.get("prices") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise PriceFileError(0, 'expected a list of prices, or an object with "prices"')
    rows: list[tuple[int, Any, Any, Any]] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or set(entry) < set(COLUMNS):
            raise PriceFileError(number, "each price needs start, end and price")
        rows.append((number, entry["start"], entry["end"], entry["price"]))
    return check_points(rows)


def to_csv(points: Sequence[PricePoint]) -> str:
    return csv_text(COLUMNS, [(p.start.isoformat(), p.end.isoformat(), str(p.price)) for p in points])
