"""Helpers for page tests: find elements the way a browser test would, and publish snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.test.html import Element, parse_html

import redisconn
from energy import snapshot
from energy.state import PlantState
from plant import live


def _elements(node: Element | str) -> Iterator[Element]:
    if isinstance(node, Element):
        yield node
        for child in node.children:
            yield from _elements(child)


def _text(node: Element | str) -> str:
    return node if isinstance(node, str) else " ".join(_text(child) for child in node.children)


def by_testid(page: str, testid: str) -> tuple[str, dict[str, str]]:
    """Text (whitespace-normalized) and attributes of the element a browser test would pick."""
    for element in _elements(parse_html(page)):
        attributes = {name: value or "" for name, value in element.attributes}  # boolean attributes: ""
        if attributes.get("data-testid") == testid:
            return " ".join(_text(element).split()), attributes
    raise AssertionError(f"no element with data-testid={testid!r}")


def text_of(page: str, testid: str) -> str:
    return by_testid(page, testid)[0]


def publish(state: PlantState) -> None:
    """Put a snapshot where the cycle would, so pages render it."""
    redisconn.sync_redis().set(live.state_key(state.plant_id), json.dumps(snapshot.to_data(state)))
