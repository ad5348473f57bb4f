"""Time from the end of a cycle to its snapshot arriving at a websocket client, over 300 cycles.

The whole stack runs as in production (simulator, Celery worker and beat, uvicorn); the client
is an ordinary websocket client on loopback. A cycle ends when it publishes: the snapshot's
timestamp (cycle start) plus its cycle duration. Target: p99 <= 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import tempfile
from pathlib import Path

from bench.common import django_env, summary, write_result


async def collect(url: str, origin: str, cookie: str, count: int) -> list[float]:
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    latencies_ms: list[float] = []
    async with connect(url, additional_headers={"Cookie": f"sessionid={cookie}"}, origin=Origin(origin)) as socket:
        await socket.recv()  # the latest value sent on connect is not a fresh cycle
        while len(latencies_ms) < count:
            state = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))["state"]
            received = dt.datetime.now(dt.UTC)
            ended = dt.datetime.fromisoformat(state["timestamp"]) + dt.timedelta(seconds=state["cycle_duration_s"])
            latencies_ms.append((received - ended).total_seconds() * 1000)
    return latencies_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--interval-s", type=float, default=0.5, help="cycle interval of the stack")
    args = parser.parse_args()
    with django_env("live"):
        from django.contrib.auth import get_user_model
        from django.test import Client

        from meter.models import Meter
        from plant.models import Plant
        from portal.services import DEVICE_USERNAME, reset_device_password
        from tests.stack import Stack, free_port

        stack = Stack(
            meter_port=free_port(),
            web_port=free_port(),
            logs=Path(tempfile.mkdtemp(prefix="ksem-live-logs-")),
            extra_env={"KSEM_CYCLE_INTERVAL_S": str(args.interval_s)},
        )
        plant = Plant.objects.create(name="bench")
        Meter.objects.create(plant=plant, port=stack.meter_port)
        reset_device_password()
        client = Client()
        client.force_login(get_user_model().objects.get(username=DEVICE_USERNAME))
        try:
            for name in ("simulator", "worker", "beat", "web"):
                stack.start(name)
            stack.wait_healthy()
            url = f"ws://127.0.0.1:{stack.web_port}/ws/plants/{plant.pk}/live/"
            latencies = asyncio.run(collect(url, stack.base_url, client.cookies["sessionid"].value, args.cycles))
        finally:
            stack.stop_all()
        write_result(
            "live",
            {"cycles": args.cycles, "cycle_interval_s": args.interval_s, "latency_ms": summary(latencies)},
            {"latency_ms_p99": 200},
        )


if __name__ == "__main__":
    main()
