"""The product's version: the one place it is written (the header, the system and update pages,
``/api/health`` and the update check all read it from here; ``pyproject.toml`` repeats it and a
test holds the two equal).

``SCHEMA`` counts the database schema generations an update package can start from: a package
names the lowest one it migrates from (``min_schema``), so an installation too old for it is told
to install an intermediate version first.
"""

from __future__ import annotations

import re

VERSION = "0.1.0"
SCHEMA = 1

_VERSION = re.compile(r"^(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})\.(0|[1-9]\d{0,5})$")


def parse(text: str) -> tuple[int, int, int]:
    """``"1.2.3"`` as ``(1, 2, 3)``; ValueError for anything else (no pre-release tags, no leading zeros)."""
    match = _VERSION.match(text if isinstance(text, str) else "")
    if match is None:
        raise ValueError(f"{text!r} is no version of the form MAJOR.MINOR.PATCH")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def newer(candidate: str, than: str) -> bool:
    return parse(candidate) > parse(than)
