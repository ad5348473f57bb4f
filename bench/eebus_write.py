"""EEBus limit write, control box to stored limit: the SHIP/SPINE leg of ``bench/eebus.py``'s path.

The simulated control box (``simulator.controlbox``) and the EEBus service's endpoint for one plant
(``smartgrid.eebus.service``, database backend on SQLite) on loopback, coupled by SKI; the box
writes 50 LPC limits in a row (4200 W and 5000 W alternating, 900 s). Measured per write: from the
box's write to the controllable system's SPINE result (the limit is in the database by then), and
that the plant's state shows it. Not measured here: the cycle that lowers the wallbox current
(the full ``bench/eebus.py`` path through the worker).

    python -m bench.eebus_write [--writes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import django_env, summary, write_result


async def run(writes: int, state_dir: Path) -> dict[str, Any]:
    from asgiref.sync import sync_to_async

    from plant.models import Plant
    from simulator.controlbox import ControlBox, FileTrustStore, load_identity
    from smartgrid import services
    from smartgrid.eebus import identities, store
    from smartgrid.eebus.service import EebusService, Endpoint

    plant = await sync_to_async(Plant.objects.create)(name="bench")
    await sync_to_async(services.set_enabled)(plant.pk, True)
    own = await sync_to_async(identities.load)(plant.pk)
    box_identity = load_identity(state_dir / "box")
    box = ControlBox(box_identity, FileTrustStore([own.ski], None), port=0, mdns=False)
    await box.start()
    await sync_to_async(store.connect)(plant.pk, "127.0.0.1", box.port, box_identity.ski)
    service = EebusService([Endpoint(plant.pk, port=0, host="127.0.0.1", mdns=False)])
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    latencies: list[float] = []
    try:
        await box.wait_connected(30)
        guard = next(iter(box.guards.values()))
        await asyncio.wait_for(guard.ready.wait(), 30)
        for k in range(writes):
            value = 4200 if k % 2 == 0 else 5000
            started = time.perf_counter()
            results = await box.write_limit("lpc", value, 900)
            latencies.append(time.perf_counter() - started)
            assert [r["error"] for r in results] == [0], results
            status = await sync_to_async(services.status)(plant.pk)
            assert status is not None and status.consume.limit_w == value, status
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await box.stop()
    figures = summary(latencies)
    return {
        "writes": writes,
        "write_to_stored_p50_s": figures["p50"],
        "write_to_stored_p99_s": figures["p99"],
        "write_to_stored_max_s": figures["max"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writes", type=int, default=50)
    args = parser.parse_args()
    # The plant's SHIP identity lands in the private var dir's eebus/ (KSEM_EEBUS_DIR follows KSEM_VAR_DIR).
    with django_env("eebus-write"), tempfile.TemporaryDirectory() as tmp:
        figures = asyncio.run(run(args.writes, Path(tmp)))
    write_result("eebus_write", figures, {"write_to_stored_p99_s": "<= 1.5 (the budget of the whole path)"})


if __name__ == "__main__":
    main()
