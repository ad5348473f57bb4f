"""An installed update takes effect at the device page's restart (DEV-4, DEV-8): a real supervisord
runs a stand-in program from the configuration ``ksem_site.supervisor`` writes; the restart writes
it again, so after a release is installed as ``<var>/releases/current`` the program runs from the
release's folder (with the same interpreter and var folder), and without one from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from device import restart
from ksem_site import supervisor
from ksem_site.supervisor import ROOT, Program

BIN = Path(sys.executable).parent
STANDIN = (
    "import os, pathlib, sys, time; "
    "pathlib.Path(os.environ['OUT']).write_text('|'.join([os.getcwd(), os.environ.get('KSEM_VAR_DIR', '-'), "
    "sys.executable])); time.sleep(600)"
)


def _render(var: Path) -> str:
    """The real rendering for one stand-in program instead of the product's (which needs Redis etc.)."""
    program = Program("standin", [sys.executable, "-c", STANDIN], priority=10, environment={"OUT": str(var / "out")})
    return supervisor.render_programs(var, [program], BIN, supervisor.code_dir(var), supervision=False)


def _standin(var: Path) -> dict | None:
    current = restart.status(var)
    running = [p for p in current.processes if p["name"] == "standin" and p["state"] == "RUNNING"]
    return running[0] if current.available and running else None


def _wait(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout_s} s for {what}")


def _seen(var: Path) -> list[str]:
    return _wait(lambda: (var / "out").exists() and (var / "out").read_text().split("|"), 20, "the stand-in's report")


def _restart(var: Path) -> None:
    before = _standin(var)
    assert before is not None
    (var / "out").unlink()
    restart.restart_all(var, _render)
    _wait(lambda: (p := _standin(var)) and p["pid"] != before["pid"], 30, "the stand-in to start again")


def _release(var: Path, version: str, manage_py: str = "import sys\n") -> Path:
    folder = var / "releases" / version
    folder.mkdir(parents=True)
    (folder / "manage.py").write_text(manage_py)
    return folder


def _point_current(var: Path, version: str) -> None:
    link = var / "releases" / "current"
    link.unlink(missing_ok=True)
    os.symlink(version, link)


@pytest.fixture
def var(tmp_path: Path) -> Iterator[Path]:
    path = supervisor.write(tmp_path, _render(tmp_path))
    process = subprocess.Popen(
        [str(BIN / "supervisord"), "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait(lambda: _standin(tmp_path), 20, "the stand-in to run")
        yield tmp_path
    finally:
        process.terminate()
        process.wait(15)


def test_after_an_install_the_restart_runs_the_release_and_without_one_the_checkout(var: Path):
    cwd, _, python = _seen(var)
    assert Path(cwd) == ROOT and python == sys.executable
    release = _release(
        var, "0.2.0", "import pathlib, sys\npathlib.Path('migrated').write_text(' '.join(sys.argv[1:]))\n"
    )
    _point_current(var, "0.2.0")
    _restart(var)
    cwd, var_dir, python = _seen(var)
    assert Path(cwd) == release.resolve()  # the release's code ...
    assert var_dir == str(var) and python == sys.executable  # ... with this var folder and interpreter
    assert (release / "migrated").read_text() == "migrate --noinput"  # its migrations ran first
    assert f"directory={release.resolve()}" in (var / "supervisord.conf").read_text()
    # Rolled back (the link removed): the next restart runs the checkout again.
    (var / "releases" / "current").unlink()
    _restart(var)
    cwd, _, _ = _seen(var)
    assert Path(cwd) == ROOT
    assert 'KSEM_VAR_DIR="' not in (var / "supervisord.conf").read_text()  # the checkout's config as before


def test_a_release_whose_migrations_fail_is_not_started_and_nothing_restarts(var: Path):
    first = _standin(var)
    assert first is not None
    _release(var, "0.3.0", "import sys\nprint('no such table: wallbox_charger', file=sys.stderr)\nsys.exit(1)\n")
    _point_current(var, "0.3.0")
    with pytest.raises(restart.RestartError, match=r"Nothing was restarted.*0\.3\.0.*no such table: wallbox_charger"):
        restart.restart_all(var, _render)
    time.sleep(1)
    assert (_standin(var) or {}).get("pid") == first["pid"]
    assert f"directory={ROOT}" in (var / "supervisord.conf").read_text()


def test_a_folder_without_manage_py_is_no_release(tmp_path: Path):
    (tmp_path / "releases" / "broken").mkdir(parents=True)
    _point_current(tmp_path, "broken")
    assert supervisor.code_dir(tmp_path) == ROOT
    _point_current(tmp_path, "missing")
    assert supervisor.code_dir(tmp_path) == ROOT


def test_a_configuration_someone_else_wrote_is_left_alone(tmp_path: Path):
    (tmp_path / "supervisord.conf").write_text("[supervisord]\n")
    assert restart.prepare(tmp_path) is None
    assert (tmp_path / "supervisord.conf").read_text() == "[supervisord]\n"
