"""Shared set-up for the benchmarks: a private var/ dir, Django, a Redis, results as JSON."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


@contextlib.contextmanager
def django_env(prefix: str) -> Iterator[Path]:
    """Django on a fresh SQLite database (or DATABASE_URL) with its own Redis keys."""
    with tempfile.TemporaryDirectory(prefix=f"ksem-{prefix}-") as tmp:
        os.environ["KSEM_VAR_DIR"] = tmp
        os.environ["KSEM_REDIS_PREFIX"] = f"bench-{prefix}-{os.getpid()}"
        os.environ["DJANGO_SETTINGS_MODULE"] = "ksem_site.settings"
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        redis_process = None
        if settings.REDIS_EMBEDDED:
            from ksem_site.embedded_redis import server_args

            redis_process = subprocess.Popen(server_args(Path(settings.EMBEDDED_REDIS_SOCKET)))
            while not Path(settings.EMBEDDED_REDIS_SOCKET).exists():
                time.sleep(0.02)
        call_command("migrate", verbosity=0)
        try:
            yield Path(tmp)
        finally:
            if redis_process is not None:
                redis_process.terminate()
                redis_process.wait(5)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3),
        "mean": round(statistics.fmean(values), 3),
    }


def machine() -> dict[str, Any]:
    def first_field(path: str, key: str) -> str:
        with contextlib.suppress(OSError, StopIteration), open(path) as lines:
            return next(line.split(":", 1)[1].strip() for line in lines if line.startswith(key))
        return ""

    cpu = first_field("/proc/cpuinfo", "model name")
    mem_kb = (
        int(first_field("/proc/meminfo", "MemTotal").split()[0] or 0) if first_field("/proc/meminfo", "MemTotal") else 0
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
        "database": "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite",
        "redis": "configured" if os.environ.get("REDIS_URL") else "embedded",
    }


def write_result(name: str, figures: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any]:
    result = {
        "benchmark": name,
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": figures,
        "targets": targets,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result
