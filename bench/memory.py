"""Resident memory of every process of the running stack after some minutes with one plant.

Starts the same processes as ``make run`` (Procfile runner, embedded Redis unless REDIS_URL is
set, simulator, web, worker, beat) on free ports, waits, then sums RSS (and PSS, which counts
shared pages once). Target: sum <= 600 MB.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from bench.common import django_env, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    with django_env("memory") as var_dir:
        from django.conf import settings

        from meter.models import Meter
        from plant.models import Plant
        from tests.stack import BIN, ROOT, Stack, child_env, free_port

        stack = Stack(meter_port=free_port(), web_port=free_port(), logs=Path(tempfile.mkdtemp()))
        Plant.objects.create(name="bench")
        Meter.objects.create(plant=Plant.objects.get(), port=stack.meter_port)
        lines = [f"{name}: {shlex.join(stack.command(name))}" for name in ("simulator", "web", "worker", "beat")]
        procfile = var_dir / "Procfile"
        procfile.write_text("\n".join(lines) + "\n")
        honcho = subprocess.Popen(
            [str(BIN / "honcho"), "-f", str(procfile), "-d", str(ROOT), "start"],
            env=child_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            stack.wait_healthy()
            time.sleep(args.minutes * 60)
            stack.wait_healthy(timeout_s=5)
            root = psutil.Process(honcho.pid)
            processes = [root, *root.children(recursive=True)]
            if settings.REDIS_EMBEDDED:  # started by the bench for this var dir; part of the stack all the same
                processes += [
                    p
                    for p in psutil.process_iter(["cmdline"])
                    if str(settings.EMBEDDED_REDIS_SOCKET) in " ".join(p.info["cmdline"] or [])
                ]
            per_process = []
            for process in processes:
                info = process.memory_full_info()
                per_process.append(
                    {
                        "command": " ".join(process.cmdline()[:6]),
                        "rss_mb": round(info.rss / 2**20, 1),
                        "pss_mb": round(getattr(info, "pss", info.rss) / 2**20, 1),
                    }
                )
        finally:
            honcho.terminate()
            honcho.wait(20)
        write_result(
            "memory",
            {
                "minutes": args.minutes,
                "processes": per_process,
                "rss_sum_mb": round(sum(p["rss_mb"] for p in per_process), 1),
                "pss_sum_mb": round(sum(p["pss_mb"] for p in per_process), 1),
            },
            {"rss_sum_mb": 600},
        )


if __name__ == "__main__":
    main()
