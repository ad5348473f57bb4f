"""SKIs as people type them and as SHIP writes them: 40 lower-case hex digits (pure, no Django)."""

from __future__ import annotations

import re

_HEX40 = re.compile(r"[0-9a-f]{40}")
_SEPARATORS = re.compile(r"[\s:\-]")


class SkiError(ValueError):
    pass


def normalise_ski(raw: str) -> str:
    """``"6A 2F-..."`` -> ``"6a2f..."``; spaces, ``-`` and ``:`` stripped, lower case (ship-go's
    NormalizeSKI plus the colons of ``openssl x509 -text``). Anything but 40 hex digits after that
    raises ``SkiError`` naming the problem."""
    if not isinstance(raw, str):
        raise SkiError("the SKI must be text: 40 hexadecimal digits")
    value = _SEPARATORS.sub("", raw).lower()
    if not value:
        raise SkiError("the SKI is empty: give 40 hexadecimal digits")
    if len(value) != 40:
        raise SkiError(f"the SKI has {len(value)} hexadecimal digits, not 40")
    if not _HEX40.fullmatch(value):
        raise SkiError("the SKI may only hold hexadecimal digits (0-9, a-f)")
    return value


def is_ski(raw: object) -> bool:
    try:
        normalise_ski(raw)  # type: ignore[arg-type]
    except SkiError:
        return False
    return True


def format_ski(ski: str) -> str:
    """Groups of four for reading aloud: ``6a2f 01bc ...`` (the page shows both forms)."""
    return " ".join(ski[i : i + 4] for i in range(0, len(ski), 4))
