"""Query parameters, parsed in one validated place.

``str.isdigit()`` accepts every Unicode digit ("²", "٣"), which ``int()`` then refuses, and an
unbounded whole number overflows the database's 64-bit ids. A query parameter therefore passes
through here: ASCII digits only, a range check, and a :class:`BadQueryParameter` naming the
parameter and the problem. That exception is a Django ``BadRequest``, so it answers 400 (never
500) wherever it is raised; ``ksem_site.security`` words the answer for people and for the API.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TypeVar

from django.core.exceptions import BadRequest

# Database ids are 64-bit signed (BigAutoField); beyond this SQLite and PostgreSQL both refuse.
MAX_ID = 2**63 - 1
# Longer than any id: a megabyte of digits is refused before int() has to read it.
MAX_DIGITS = 19

T = TypeVar("T", bound=str)


class BadQueryParameter(BadRequest):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


def parse_int(text: str, low: int, high: int) -> int:
    """A whole number written in ASCII digits within [low, high]; ValueError with the reason otherwise."""
    value = text.strip()
    negative = value.startswith("-")
    digits = value[1:] if negative else value
    if not digits or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"must be a whole number between {low} and {high}")
    if len(digits) > max(MAX_DIGITS, len(str(abs(high))), len(str(abs(low)))):
        raise ValueError(f"must be between {low} and {high}")
    number = -int(digits) if negative else int(digits)
    if not low <= number <= high:
        raise ValueError(f"must be between {low} and {high}")
    return number


def int_param(query: Mapping[str, str], name: str, *, low: int, high: int, default: int | None = None) -> int | None:
    """``?name=`` as a whole number in [low, high]; absent or empty gives ``default``."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_int(raw, low, high)
    except ValueError as exc:
        raise BadQueryParameter(name, str(exc)) from None


def id_param(query: Mapping[str, str], name: str) -> int | None:
    """``?name=`` as a database id (1 ... 2**63-1), or None when absent."""
    return int_param(query, name, low=1, high=MAX_ID)


def choice_param(query: Mapping[str, str], name: str, choices: Collection[T], default: T) -> T:
    """``?name=`` as one of ``choices``; absent or empty gives ``default``, anything else is refused."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    for choice in choices:
        if raw == choice:
            return choice
    raise BadQueryParameter(name, "must be one of " + ", ".join(sorted(choices)))


def checked_id(value: object) -> int | None:
    """An id from a URL route or the session: an int in range, else None (an unknown id)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= MAX_ID else None
    if isinstance(value, str):
        try:
            return parse_int(value, 1, MAX_ID)
        except ValueError:
            return None
    return None
