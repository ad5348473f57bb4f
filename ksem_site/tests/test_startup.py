"""Start-up: no database access while the apps load, and the dependency wait runs the command in its
own process (issue 13 part 9, issue 14 part 7)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ksem_site.dependencies import in_process
from tests.stack import ROOT, child_env

APP_INIT_WARNING = "Accessing the database during app initialization"
PYTHON = str(Path(sys.executable).absolute())


def run(*command: str) -> subprocess.CompletedProcess[str]:
    # Every RuntimeWarning printed, each time it happens.
    return subprocess.run(
        [PYTHON, "-W", "always::RuntimeWarning", *command],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_manage_py_check_loads_every_app_without_touching_the_database():
    done = run("manage.py", "check")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    assert APP_INIT_WARNING not in done.stderr and "RuntimeWarning" not in done.stderr


@pytest.mark.django_db(transaction=True)
def test_the_dependency_wait_asks_the_database_only_once_the_apps_are_loaded():
    # What every supervised process does first: wait for Redis and the database, then start.
    done = run("-m", "ksem_site.dependencies", "web", "--", PYTHON, "manage.py", "check")
    assert done.returncode == 0, done.stderr
    assert "System check identified no issues" in done.stdout
    assert APP_INIT_WARNING not in done.stderr and "RuntimeWarning" not in done.stderr


@pytest.mark.django_db(transaction=True)
def test_the_command_runs_in_the_waiting_process_with_django_already_set_up(tmp_path: Path):
    script = tmp_path / "report.py"
    script.write_text(
        "import json, os, sys\nfrom django.apps import apps\n"
        "print(json.dumps({'pid': os.getpid(), 'argv': sys.argv, 'apps_ready': apps.ready}))\n"
    )
    process = subprocess.Popen(
        [PYTHON, "-m", "ksem_site.dependencies", "probe", "--", PYTHON, str(script), "one", "two"],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    stdout, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    report = json.loads(stdout.strip().splitlines()[-1])
    assert report == {"pid": process.pid, "argv": [str(script), "one", "two"], "apps_ready": True}


def test_a_failing_command_keeps_its_exit_status():
    done = subprocess.run(
        [PYTHON, "-m", "ksem_site.dependencies", "probe", "--", PYTHON, "-m", "json.tool", "/nonexistent/file"],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode != 0 and "No such file or directory" in done.stderr


@pytest.mark.parametrize(
    ("command", "runs_here"),
    [
        ([PYTHON, "-m", "ksem_site.https_server", "--port", "8443"], True),
        ([PYTHON, "manage.py", "serve_modbus"], True),
        ([str(Path(PYTHON).parent / "celery"), "-A", "ksem_site", "worker"], True),
        ([str(Path(PYTHON).parent / "uvicorn"), "ksem_site.asgi:application"], True),
        ([PYTHON, "-c", "print(1)"], False),  # nothing to run as a module or a file
        (["/bin/sh", "-c", "true"], False),  # not Python
        (["/nonexistent/bin/python", "-m", "x"], False),  # another environment
    ],
)
def test_what_runs_in_process_and_what_gets_its_own(command: list[str], runs_here: bool):
    assert (in_process(command) is not None) is runs_here
