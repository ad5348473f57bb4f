"""Shared pieces for the SPINE tests: a running CS <-> EG pair and a raw scripted peer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from smartgrid.spine.backend import GridMeasurements, MemoryBackend
from smartgrid.spine.cs import ControllableSystem, Identity
from smartgrid.spine.eg import EnergyGuard
from smartgrid.spine.model import Address, build_datagram
from smartgrid.spine.transport import MemoryTransport, memory_pair

CS_SKI = "cs-ski-0001"
EG_SKI = "eg-ski-0001"
IDENTITY = Identity("KOSTAL", "KSEM", "71234567", "KOSTAL-KSEM-71234567")
GRID = GridMeasurements(
    power_w=1500.0,
    power_per_phase_w=(500.0, 400.0, 600.0),
    current_a=(2.2, 1.8, 2.6),
    voltage_v=(230.1, 229.9, 231.0),
    frequency_hz=50.01,
    energy_consumed_wh=123456.0,
    energy_fed_in_wh=654321.5,
)


@dataclass
class Pair:
    cs: ControllableSystem
    eg: EnergyGuard
    backend: MemoryBackend
    cs_end: MemoryTransport
    eg_end: MemoryTransport
    tasks: list[asyncio.Task[None]]


async def start_pair(
    backend: MemoryBackend | None = None,
    eg: EnergyGuard | None = None,
    cs: ControllableSystem | None = None,
    heartbeat_timeout_s: float = 2.3,
) -> Pair:
    backend = backend or MemoryBackend(grid=GRID)
    cs = cs or ControllableSystem(backend, IDENTITY, heartbeat_timeout_s=heartbeat_timeout_s)
    eg = eg or EnergyGuard(heartbeat_interval_s=0.2)
    cs_end, eg_end = memory_pair(CS_SKI, EG_SKI)
    tasks = [asyncio.create_task(cs.serve(cs_end)), asyncio.create_task(eg.serve(eg_end))]
    await asyncio.wait_for(eg.ready.wait(), 5)
    return Pair(cs, eg, backend, cs_end, eg_end, tasks)


async def stop_pair(pair: Pair) -> None:
    await pair.cs_end.close("test over")
    for task in pair.tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


@contextlib.asynccontextmanager
async def running_pair(**kwargs: Any) -> AsyncIterator[Pair]:
    pair = await start_pair(**kwargs)
    try:
        yield pair
    finally:
        await stop_pair(pair)


class RawPeer:
    """A hand-driven remote device: answers the CS's discovery reads like a control box, and lets
    a test send any datagram and read what comes back."""

    ADDRESS = "d:_n:Raw_Peer-1"

    def __init__(self, end: MemoryTransport) -> None:
        self.end = end
        self.counter = 1000
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.cs_address: str | None = None
        self._task = asyncio.create_task(self._pump())

    def discovery(self) -> dict[str, Any]:
        def feat(fid: int, ftype: str, role: str) -> dict[str, Any]:
            return {
                "description": {
                    "featureAddress": {"device": self.ADDRESS, "entity": [1], "feature": fid},
                    "featureType": ftype,
                    "role": role,
                }
            }

        return {
            "deviceInformation": {
                "description": {"deviceAddress": {"device": self.ADDRESS}, "deviceType": "ElectricitySupplySystem"}
            },
            "entityInformation": [
                {
                    "description": {
                        "entityAddress": {"device": self.ADDRESS, "entity": [0]},
                        "entityType": "DeviceInformation",
                    }
                },
                {"description": {"entityAddress": {"device": self.ADDRESS, "entity": [1]}, "entityType": "GridGuard"}},
            ],
            "featureInformation": [
                {
                    "description": {
                        "featureAddress": {"device": self.ADDRESS, "entity": [0], "feature": 0},
                        "featureType": "NodeManagement",
                        "role": "special",
                    }
                },
                feat(1, "LoadControl", "client"),
                feat(2, "DeviceConfiguration", "client"),
                feat(3, "DeviceDiagnosis", "server"),
            ],
        }

    async def _pump(self) -> None:
        with contextlib.suppress(ConnectionError):
            while True:
                message = await self.end.recv()
                header = message["datagram"]["header"]
                cmd = message["datagram"]["payload"]["cmd"][0]
                self.cs_address = header["addressSource"].get("device", self.cs_address)
                if header["cmdClassifier"] == "read" and "nodeManagementDetailedDiscoveryData" in cmd:
                    await self.answer(header, {"nodeManagementDetailedDiscoveryData": self.discovery()})
                elif header["cmdClassifier"] == "read" and "nodeManagementUseCaseData" in cmd:
                    await self.answer(header, {"nodeManagementUseCaseData": {"useCaseInformation": []}})
                elif header["cmdClassifier"] == "call":
                    await self.answer(header, {"resultData": {"errorNumber": 0}}, "result")
                else:
                    await self.inbox.put(message)

    async def answer(self, header: dict[str, Any], cmd: dict[str, Any], classifier: str = "reply") -> None:
        self.counter += 1
        await self.end.send(
            build_datagram(
                Address(
                    self.ADDRESS, tuple(header["addressDestination"]["entity"]), header["addressDestination"]["feature"]
                ),
                Address(
                    header["addressSource"].get("device"),
                    tuple(header["addressSource"]["entity"]),
                    header["addressSource"]["feature"],
                ),
                self.counter,
                classifier,
                cmd,
                reference=header["msgCounter"],
            )
        )

    async def send(
        self,
        classifier: str,
        entity: list[int],
        feature: int,
        cmd: dict[str, Any],
        source_feature: int = 1,
        ack: bool = True,
    ) -> int:
        self.counter += 1
        await self.end.send(
            build_datagram(
                Address(self.ADDRESS, (1,), source_feature),
                Address(self.cs_address, tuple(entity), feature),
                self.counter,
                classifier,
                cmd,
                ack_request=ack,
            )
        )
        return self.counter

    async def send_raw(self, message: Any) -> None:
        await self.end.send(message)

    async def answer_to(self, counter: int, within_s: float = 3.0) -> dict[str, Any]:
        """The next datagram that references ``counter`` (others are dropped)."""

        async def wait() -> dict[str, Any]:
            while True:
                message = await self.inbox.get()
                if message["datagram"]["header"].get("msgCounterReference") == counter:
                    return message

        return await asyncio.wait_for(wait(), within_s)

    async def close(self) -> None:
        await self.end.close("test over")
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def result_of(message: dict[str, Any]) -> tuple[str, Any]:
    header = message["datagram"]["header"]
    cmd = message["datagram"]["payload"]["cmd"][0]
    return header["cmdClassifier"], cmd
