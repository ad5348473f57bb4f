"""Rooms that hold one thing: no product module grows past 500 lines.

The product is every package the import contracts know (pyproject.toml, ``root_packages``) except
the simulator and the replay tooling, which stand beside and above it. Tests and migrations are
not product modules. A file that outgrows the limit is split by concern (docs/architecture.md).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500
NOT_PRODUCT = {"simulator", "replay"}


def _product_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [name for name in config["tool"]["importlinter"]["root_packages"] if name not in NOT_PRODUCT]


def _product_modules() -> list[Path]:
    found = []
    for package in _product_packages():
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts or path.name.startswith("test_"):
                continue
            found.append(path)
    return found


def test_the_product_is_found() -> None:
    packages = _product_packages()
    assert {"plant", "energy", "wallbox", "smartgrid"} <= set(packages)
    assert not NOT_PRODUCT & set(packages)
    assert len(_product_modules()) > 100


def test_no_product_module_is_longer_than_500_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): lines
        for path in _product_modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these by concern (at most {MAX_LINES} lines): {too_long}"
