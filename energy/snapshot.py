"""The one serialiser of :class:`~energy.state.PlantState`: to JSON-ready data and back.

Redis, the websocket, the API and the pages all go through here, so a field renamed in the
types fails in one place (and in mypy), not in a template when a page renders.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from energy.state import PlantState

_ADAPTER: TypeAdapter[PlantState] = TypeAdapter(PlantState)


def to_data(state: PlantState) -> dict[str, Any]:
    """JSON-ready dict: datetimes as ISO 8601 strings, tuples as lists."""
    data: dict[str, Any] = _ADAPTER.dump_python(state, mode="json")
    return data


def to_json(state: PlantState) -> bytes:
    return _ADAPTER.dump_json(state)


def from_data(data: Any) -> PlantState:
    """Back to the types; raises ``pydantic.ValidationError`` naming the field for a bad snapshot."""
    return _ADAPTER.validate_python(data)


def from_json(raw: bytes | str) -> PlantState:
    return _ADAPTER.validate_json(raw)
