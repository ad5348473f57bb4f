"""The EEBus service against the simulated control box, both in this process on loopback: real
TLS, SHIP and SPINE, trust and status from the database."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from plant.models import Plant
from simulator.controlbox import ControlBox, FileTrustStore, load_identity
from smartgrid import services
from smartgrid.eebus import identities, store
from smartgrid.eebus.models import EebusPeer, PeerStatus
from smartgrid.eebus.service import EebusService, Endpoint
from smartgrid.ship import ShipError, ShipTimers

pytestmark = pytest.mark.django_db(transaction=True)


async def eventually(check: Callable[[], Any], within_s: float = 15.0, what: str = "") -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = await sync_to_async(check)() if not asyncio.iscoroutinefunction(check) else await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s} s: {what}")
        await asyncio.sleep(0.1)


def peer_status(plant_id: int, ski: str) -> str | None:
    peer = EebusPeer.objects.filter(plant_id=plant_id, ski=ski).first()
    return peer.status() if peer else None


@contextlib.asynccontextmanager
async def running(endpoint: Endpoint) -> AsyncIterator[EebusService]:
    service = EebusService([endpoint])
    stop = asyncio.Event()
    started = asyncio.Event()

    async def on_started() -> None:
        started.set()

    task = asyncio.create_task(service.run(stop, on_started))
    await asyncio.wait_for(started.wait(), 15)
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
def plant(settings: Any, tmp_path: Path) -> Plant:
    settings.EEBUS_DIR = tmp_path / "eebus"
    plant = Plant.objects.create(name="home")
    services.set_enabled(plant.pk, True)
    return plant


def make_box(tmp_path: Path, trusted: list[str]) -> ControlBox:
    identity = load_identity(tmp_path / "box")
    (tmp_path / "box" / "trusted").write_text("\n".join(trusted) + "\n")
    return ControlBox(identity, FileTrustStore([], tmp_path / "box" / "trusted"), port=0, mdns=False)


def test_a_coupled_control_box_is_dialled_and_its_limit_reaches_the_plant(plant: Plant, tmp_path: Path):
    own = identities.load(plant.pk)
    box = make_box(tmp_path, [own.ski])

    async def scenario() -> None:
        await box.start()
        try:
            await sync_to_async(store.connect)(plant.pk, "127.0.0.1", box.port, box.identity.ski)
            endpoint = Endpoint(plant.pk, port=0, host="127.0.0.1", mdns=False)
            async with running(endpoint):
                await box.wait_connected(20)
                await eventually(
                    lambda: peer_status(plant.pk, box.identity.ski) == PeerStatus.CONNECTED, what="connected"
                )
                results = await box.write_limit("lpc", 4200, 900)
                assert [r["error"] for r in results] == [0], results
                status = await sync_to_async(services.status)(plant.pk)
                assert status is not None
                assert status.consume.state == "limited" and status.consume.limit_w == 4200
                # A negative LPC is refused (SPINE error, limit unchanged).
                results = await box.write_limit("lpc", -100, 900)
                assert results[0]["error"] != 0
                status = await sync_to_async(services.status)(plant.pk)
                assert status is not None and status.consume.limit_w == 4200
                # The box sees what the plant holds (SPINE read/notify back).
                guard = next(iter(box.guards.values()))
                assert guard.limits and guard.failsafe_duration_s == 7200

                # Decouple: trust removed and the connection dropped within a second or two.
                await sync_to_async(store.decouple)(plant.pk, box.identity.ski)
                await eventually(lambda: not box.connections, within_s=5, what="connection dropped")
                assert await sync_to_async(peer_status)(plant.pk, box.identity.ski) == PeerStatus.NOT_COUPLED
        finally:
            await box.stop()

    asyncio.run(scenario())


def test_an_uncoupled_ski_is_refused_listed_as_discovered_and_accepted_once_coupled(plant: Plant, tmp_path: Path):
    own = identities.load(plant.pk)
    box = make_box(tmp_path, [own.ski])

    async def scenario() -> None:
        await box.start()
        endpoint = Endpoint(
            plant.pk, port=0, host="127.0.0.1", mdns=False, node_options={"timers": ShipTimers(pending_max=2.0)}
        )
        try:
            async with running(endpoint):
                port = endpoint.node.port
                with pytest.raises(ShipError):
                    await asyncio.wait_for(box.node.connect("127.0.0.1", port, own.ski), 15)
                assert not endpoint.live
                assert await sync_to_async(peer_status)(plant.pk, box.identity.ski) == PeerStatus.NOT_COUPLED
                peer = await sync_to_async(EebusPeer.objects.get)(plant=plant, ski=box.identity.ski)
                assert peer.host == "127.0.0.1" and not peer.trusted

                # The refused connection ends after SHIP's abort delay (else the next one is a double).
                await eventually(lambda: not endpoint.node._live, within_s=5, what="the refused connection closed")
                # The box knocks again; the installer couples it while it waits: the handshake completes.
                knock = asyncio.create_task(box.node.connect("127.0.0.1", port, own.ski))
                await asyncio.sleep(0.3)
                await sync_to_async(store.couple)(plant.pk, box.identity.ski)
                await asyncio.wait_for(knock, 10)
                await box.wait_connected(10)
                await eventually(
                    lambda: peer_status(plant.pk, box.identity.ski) == PeerStatus.CONNECTED, what="connected"
                )
        finally:
            await box.stop()

    asyncio.run(scenario())


def test_disconnect_drops_the_connection_and_keeps_the_trust(plant: Plant, tmp_path: Path):
    own = identities.load(plant.pk)
    box = make_box(tmp_path, [own.ski])

    async def scenario() -> None:
        await box.start()
        try:
            await sync_to_async(store.connect)(plant.pk, "127.0.0.1", box.port, box.identity.ski)
            endpoint = Endpoint(plant.pk, port=0, host="127.0.0.1", mdns=False)
            async with running(endpoint):
                await box.wait_connected(20)
                first = next(iter(box.connections.values()))
                await eventually(lambda: peer_status(plant.pk, box.identity.ski) == PeerStatus.CONNECTED)
                await sync_to_async(store.disconnect)(plant.pk, box.identity.ski)
                await eventually(lambda: first.closed.is_set(), within_s=5, what="the connection closed")
                peer = await sync_to_async(EebusPeer.objects.get)(plant=plant, ski=box.identity.ski)
                assert peer.trusted
                # ... and the service dials it again after ship-go's delay.
                await box.wait_connected(20)
                await eventually(lambda: peer_status(plant.pk, box.identity.ski) == PeerStatus.CONNECTED)
        finally:
            await box.stop()

    asyncio.run(scenario())


def _stored(plant_id: int) -> tuple[dict[str, Any], int]:
    """Everything the store holds for the plant's limits: the row and the history's length."""
    from django.forms.models import model_to_dict

    from smartgrid.models import GridLimitEntry, GridLimits

    row = model_to_dict(GridLimits.objects.get(plant_id=plant_id))
    row.pop("last_heartbeat_at", None)  # the box's heartbeat goes on meanwhile
    row.pop("last_heartbeat_counter", None)
    return row, GridLimitEntry.objects.filter(plant_id=plant_id).count()


def test_a_write_the_limit_store_refuses_is_error_7_with_its_reason_and_changes_nothing(plant: Plant, tmp_path: Path):
    """Values the SPINE layer lets through but the store refuses (out of its range, or the plant
    switched off meanwhile): the control box gets errorNumber 7 (commandRejected) with the store's
    reason, and nothing stored changes, neither the limit nor the failsafe values nor the history."""
    own = identities.load(plant.pk)
    box = make_box(tmp_path, [own.ski])

    async def scenario() -> None:
        await box.start()
        try:
            await sync_to_async(store.connect)(plant.pk, "127.0.0.1", box.port, box.identity.ski)
            async with running(Endpoint(plant.pk, port=0, host="127.0.0.1", mdns=False)):
                await box.wait_connected(20)
                guard = next(iter(box.guards.values()))
                await asyncio.wait_for(guard.ready.wait(), 20)
                assert [r["error"] for r in await box.write_limit("lpc", 4200, 900)] == [0]
                before = await sync_to_async(_stored)(plant.pk)

                # Over the store's range (a limit of 2 GW is no house's): SPINE passes it on.
                results = await box.write_limit("lpc", 2e9, 900)
                assert [(r["error"], r["description"]) for r in results] == [
                    (7, "the consumption limit 2e+09 W is out of range")
                ]
                results = await box.write_failsafe(lpc_w=2e9)
                assert [(r["error"], r["description"]) for r in results] == [
                    (7, "the failsafe consumption limit 2e+09 W is out of range")
                ]
                assert await sync_to_async(_stored)(plant.pk) == before

                # The installer switched grid-operator control off: the store refuses any limit.
                await sync_to_async(services.set_enabled)(plant.pk, False)
                before = await sync_to_async(_stored)(plant.pk)
                results = await box.write_limit("lpc", 5000, 900)
                assert [(r["error"], r["description"]) for r in results] == [
                    (7, "this plant is not controlled by the grid operator (EEBus LPC/LPP is off)")
                ]
                assert await sync_to_async(_stored)(plant.pk) == before
                row, _ = before
                assert (row["lpc_state"], row["lpc_limit_w"], row["lpc_limit_active"]) == ("limited", 4200.0, True)
        finally:
            await box.stop()

    asyncio.run(scenario())
