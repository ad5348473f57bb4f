"""Every folder that holds tests is collected by `make test`: an app added later cannot fall out silently."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = {".venv", "var", ".git", "node_modules", "bench", "deploy", "static", "templates", "locale", "docs"}


def _testpaths() -> list[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [ROOT / path for path in config["tool"]["pytest"]["ini_options"]["testpaths"]]


def _folders_with_tests() -> set[Path]:
    found = set()
    for path in ROOT.rglob("test_*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0] in SKIP or relative.parts[0].startswith("."):
            continue
        found.add(path.parent)
    return found


def test_every_folder_with_tests_is_under_a_testpath() -> None:
    roots = _testpaths()
    missing = sorted(
        str(folder.relative_to(ROOT))
        for folder in _folders_with_tests()
        if not any(folder.is_relative_to(r) for r in roots)
    )
    assert not missing, f"test folders that `make test` does not collect (add them to testpaths): {missing}"


def test_the_guard_sees_every_app() -> None:
    """The walk itself finds the apps' test folders (a guard that finds nothing would pass vacuously)."""
    apps = {folder.relative_to(ROOT).parts[0] for folder in _folders_with_tests()}
    assert {"energy", "access", "plant", "wallbox", "tests"} <= apps


def test_every_testpath_exists() -> None:
    assert [str(p) for p in _testpaths() if not p.is_dir()] == []


def test_the_schema_tests_have_a_node_id_each() -> None:
    """xdist (`make test`) hands tests out by node id and runs only the first of equal ids: the
    per-operation schemathesis tests would shrink to one if their ids were not told apart."""
    listed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:xdist", "--collect-only", "-q", "access/tests/test_schemathesis.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    ).stdout.splitlines()  # fmt: skip
    ids = [line for line in listed if line.startswith("access/tests/test_schemathesis.py::")]
    assert len(ids) > 50 and len(set(ids)) == len(ids)
    assert any(i.endswith("[GET /api/v1/health]") for i in ids), ids[:3]
