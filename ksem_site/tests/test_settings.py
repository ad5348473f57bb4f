"""A broken setting stops start-up with a message that names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start_with(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    environment.update(DJANGO_SETTINGS_MODULE="ksem_site.settings", KSEM_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("KSEM_CYCLE_INTERVAL_S", "abc", "could not convert"),
        ("KSEM_CYCLE_INTERVAL_S", "0.01", "between 0.2 and 60"),
        ("DATABASE_URL", "foo://bar/db", "unsupported database URL"),
        ("REDIS_URL", "localhost:6379", "must start with redis://"),
        ("DJANGO_DEBUG", "maybe", "use true or false"),
        ("KSEM_HEALTH_MAX_AGE_S", "-1", "between 1 and 3600"),
    ],
)
def test_bad_setting_stops_start_up_naming_it(tmp_path, variable, value, message):
    result = start_with(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert f"{variable}={value!r} is not valid" in result.stderr
    assert message in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = start_with(tmp_path, KSEM_PRODUCTION="true")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_good_settings_start(tmp_path):
    result = start_with(tmp_path, KSEM_CYCLE_INTERVAL_S="0.5", DJANGO_DEBUG="false")
    assert result.returncode == 0, result.stderr
