"""The JSON API under load: GET of a plant's current values with a bearer token.

The web process is started exactly as ``make run`` starts it (the uvicorn command of
``ksem_site/supervisor.py``) on a free port; 50 clients, each on its own keep-alive connection,
ask for ``/api/v1/plants/{id}/state`` as fast as they are answered for 20 s. The snapshot is one
the cycle would have published, so the figures are the API's own: the token check (cached per
process, one Redis read, no database query or write), the Redis read of the snapshot, the JSON
rendered once per snapshot (``plant.api.views.StateFastPath``; Django still looks at the plant
and notes the token's use once a second). Targets: >= 1000 requests/s, p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.common import RESULTS, django_env, machine, percentile

TARGETS = {"requests_per_s": 1000, "p99_ms": 100}


async def client(port: int, request: bytes, until: float, latencies_ms: list[float], errors: list[str]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = head[9:12]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            await reader.readexactly(length)
            latencies_ms.append((time.perf_counter() - started) * 1000)
            if status != b"200":
                errors.append(status.decode())
    finally:
        writer.close()


async def load(port: int, path: str, secret: str, clients: int, duration_s: float) -> tuple[list[float], list[str]]:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nAuthorization: Bearer {secret}\r\n\r\n"
    ).encode()
    latencies_ms: list[float] = []
    errors: list[str] = []
    until = time.perf_counter() + duration_s
    await asyncio.gather(*(client(port, request, until, latencies_ms, errors) for _ in range(clients)))
    return latencies_ms, errors


def web_command(var_dir: Path, port: int) -> list[str]:
    """The web program of ``make run``, without the wait-for-dependencies wrapper."""
    from ksem_site.supervisor import programs

    environ = {**os.environ, "KSEM_WEB_PORT": str(port), "KSEM_SIMULATOR": "off"}
    (web,) = [p for p in programs(var_dir, environ, Path(sys.executable).parent) if p.name == "web"]
    return web.command[web.command.index("--") + 1 :]


def wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the web process exited during start-up")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/schema/", timeout=2).close()
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise SystemExit("the web process did not answer within 30 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration-s", type=float, default=20.0)
    args = parser.parse_args()
    with django_env("api") as var_dir:
        from django.utils import timezone

        from access import services
        from energy.state import DeviceStatus, EnergyCounters, EnergyFlow, PlantState
        from plant.models import Plant
        from portal.services import device_user, ensure_device_user
        from tests.pages import publish
        from tests.stack import free_port

        ensure_device_user()
        plant = Plant.objects.create(name="bench")
        now = timezone.now()
        publish(
            PlantState(
                plant_id=plant.pk, timestamp=now, sequence=1, meter=None,
                meter_status=DeviceStatus(name="meter", online=True, last_seen=now),
                flow=EnergyFlow(grid_power_w=812.4, pv_power_w=2100.0, battery_power_w=None, battery_soc_pct=None,
                                house_power_w=2912.4, wallbox_power_w=None),
                totals=EnergyCounters(active_import_wh=1234.5, active_export_wh=67.8),
            )
        )  # fmt: skip
        secret = services.create_token(
            name="bench", role="api", expires_on=now.date() + dt.timedelta(days=1), user=device_user(), authorise=True
        ).secret
        port = free_port()
        process = subprocess.Popen(web_command(var_dir, port), env={**os.environ}, stdout=subprocess.DEVNULL)
        try:
            wait_until_up(port, process)
            path = f"/api/v1/plants/{plant.pk}/state"
            asyncio.run(load(port, path, secret, 5, 1.0))  # warm-up: imports, connections
            latencies, errors = asyncio.run(load(port, path, secret, args.clients, args.duration_s))
        finally:
            process.terminate()
            process.wait(10)
    result = {
        "benchmark": "api",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "requests_per_s": round(len(latencies) / args.duration_s, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "requests": len(latencies),
        "errors": len(errors),
        "clients": args.clients,
        "duration_s": args.duration_s,
        "path": "/api/v1/plants/{id}/state",
        "targets": TARGETS,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    if errors:
        sys.exit(f"{len(errors)} requests did not answer 200: {sorted(set(errors))}")


if __name__ == "__main__":
    main()
