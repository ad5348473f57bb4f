"""The API's JSON parser: REST framework's, with a nesting limit (issue 14 part 3).

The body's size is already bounded (``access.limits``); here a document nested deeper than
``MAX_JSON_DEPTH`` is refused as 400 naming the problem, instead of the interpreter's recursion
limit turning into a 500 (while parsing, validating or rendering it back).
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32  # the deepest document the API takes (Modbus configuration) has 4 levels


def too_deep(data: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when lists and objects nest more than ``limit`` levels; iterative, no recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
            deep = True
        else:
            deep = too_deep(data)
        if deep:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels")
        return data
