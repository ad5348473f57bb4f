"""The controllable system and an energy guard talking SPINE over the in-memory transport."""

import asyncio

import pytest

from smartgrid.spine.backend import Direction, MemoryBackend, PowerLimit
from smartgrid.spine.cs import ControllableSystem
from smartgrid.spine.eg import EnergyGuard
from smartgrid.tests.spine_helpers import EG_SKI, GRID, IDENTITY, running_pair, start_pair, stop_pair


async def test_discovery_use_cases_subscriptions_and_bindings() -> None:
    async with running_pair() as pair:
        eg, cs = pair.eg, pair.cs
        assert [(what, number) for what, number, _ in eg.setup_results] == [
            ("subscribe LoadControl", 0),
            ("bind LoadControl", 0),
            ("subscribe DeviceConfiguration", 0),
            ("bind DeviceConfiguration", 0),
            ("subscribe DeviceDiagnosis", 0),
            ("subscribe Measurement", 0),
        ]
        peer = eg.peer
        assert peer is not None
        assert peer.remote_address == "d:_n:KOSTAL_KSEM-71234567"
        assert peer.remote_device_type == "EnergyManagementSystem"
        assert peer.remote_entities == {(0,): "DeviceInformation", (1,): "CEM", (2,): "GridConnectionPointOfPremises"}
        announced = {(uc.actor, uc.name, uc.entity, uc.scenarios) for uc in peer.remote_use_cases}
        assert ("ControllableSystem", "limitationOfPowerConsumption", (1,), (1, 2, 3, 4)) in announced
        assert ("ControllableSystem", "limitationOfPowerProduction", (1,), (1, 2, 3, 4)) in announced
        assert ("GridConnectionPoint", "monitoringOfGridConnectionPoint", (2,), (2, 3, 4, 5, 6, 7)) in announced
        assert ("MonitoredUnit", "monitoringOfPowerConsumption", (1,), (1, 2, 3, 4, 5)) in announced
        # the CS learnt the box too and subscribed to its heartbeat
        (cs_peer,) = cs.peers
        assert cs_peer.remote_entities[(1,)] == "GridGuard"
        assert any(uc.actor == "EnergyGuard" for uc in cs_peer.remote_use_cases)
        # what the box read
        assert eg.limits[Direction.CONSUME].active is False
        assert eg.failsafe_w == {Direction.CONSUME: 10000.0, Direction.PRODUCE: 10000.0}
        assert eg.failsafe_duration_s == 7200
        assert eg.nominal_max_w == {
            "contractualConsumptionNominalMax": 32000.0,
            "contractualProductionNominalMax": 10000.0,
        }
        assert eg.measurements["acPowerTotal"] == 1500.0
        assert eg.measurements["gridFeedIn"] == 654321.5
        assert eg.measurements["gridConsumption"] == 123456.0
        assert eg.measurements["acVoltage3"] == 231.0
        assert eg.measurements["acFrequency"] == pytest.approx(50.01)


async def test_lpc_write_accepted_reaches_backend_and_is_notified() -> None:
    async with running_pair() as pair:
        eg, backend = pair.eg, pair.backend
        before = len(eg.notifications)
        assert await eg.write_limit(Direction.CONSUME, True, 4200, 900) == (0, "")
        assert backend.limit_writes == [(Direction.CONSUME, PowerLimit(True, 4200.0, 900.0), EG_SKI)]
        await eg.wait_for(lambda: eg.limits[Direction.CONSUME].active)
        observed = eg.limits[Direction.CONSUME]
        assert observed.value_w == 4200.0 and observed.duration_s == pytest.approx(900, abs=2)
        assert "loadControlLimitListData" in eg.notifications[before:]
        # a limit without duration (delete filter on timePeriod) has no end
        assert await eg.write_limit(Direction.CONSUME, True, 3000, None) == (0, "")
        await eg.wait_for(lambda: eg.limits[Direction.CONSUME].value_w == 3000)
        assert eg.limits[Direction.CONSUME].duration_s is None
        assert (await backend.limit(Direction.CONSUME)) == PowerLimit(True, 3000.0, None)


async def test_lpp_write_uses_the_passive_sign() -> None:
    async with running_pair() as pair:
        eg, backend = pair.eg, pair.backend
        assert await eg.write_limit(Direction.PRODUCE, True, 3000, 600) == (0, "")
        assert backend.limit_writes[-1][:2] == (Direction.PRODUCE, PowerLimit(True, 3000.0, 600.0))
        await eg.wait_for(lambda: eg.limits[Direction.PRODUCE].active)
        assert eg.limits[Direction.PRODUCE].value_w == -3000.0  # on the wire


@pytest.mark.parametrize(
    ("direction", "value"),
    [(Direction.PRODUCE, -3000), (Direction.CONSUME, -1)],  # a positive LPP on the wire, a negative LPC
)
async def test_wrong_sign_rejected_and_nothing_changes(direction: Direction, value: float) -> None:
    async with running_pair() as pair:
        eg, backend = pair.eg, pair.backend
        number, text = await eg.write_limit(direction, True, value, 600)
        assert number == 7 and ("positive" in text or "negative" in text)
        assert backend.limit_writes == []
        assert (await backend.limit(direction)) == PowerLimit(False, 0.0, None)
        assert eg.limits[direction].active is False


async def test_failsafe_writes() -> None:
    async with running_pair() as pair:
        eg, backend = pair.eg, pair.backend
        assert await eg.write_failsafe(duration_s=3600) == (7, "failsafe duration outside 2-24 h")
        assert await eg.write_failsafe(Direction.CONSUME, -5.0) == (
            7,
            "negative failsafe value: failsafe limits are >= 0 W",
        )
        assert backend.failsafe_writes == [] and backend.failsafe_s == 7200
        assert await eg.write_failsafe(Direction.CONSUME, 4200.0, 3 * 3600) == (0, "")
        assert backend.failsafe_writes == [(Direction.CONSUME, 4200.0, 10800.0, EG_SKI)]
        await eg.wait_for(lambda: eg.failsafe_duration_s == 10800 and eg.failsafe_w[Direction.CONSUME] == 4200)
        assert await eg.write_failsafe(Direction.PRODUCE, 0.0) == (0, "")
        await eg.wait_for(lambda: eg.failsafe_w[Direction.PRODUCE] == 0)


async def test_backend_rejection_is_reported_with_its_reason() -> None:
    backend = MemoryBackend(grid=GRID, reject_reason="limit writes are switched off")
    async with running_pair(backend=backend) as pair:
        assert await pair.eg.write_limit(Direction.CONSUME, True, 4200, 60) == (7, "limit writes are switched off")
        assert pair.eg.limits[Direction.CONSUME].active is False


async def test_write_without_binding_is_refused() -> None:
    async with running_pair() as pair:
        eg, cs, backend = pair.eg, pair.cs, pair.backend
        # the box drops its LoadControl binding, then writes
        assert eg.peer is not None and eg.state.load_control is not None
        delete = {
            "bindingDelete": {
                "clientAddress": eg.load_control.address().to_json(),
                "serverAddress": eg.state.load_control.to_json(),
            }
        }
        assert await eg.peer.acked(
            "call", eg.device.node_management, eg.peer.remote((0,), 0), {"nodeManagementBindingDeleteCall": delete}
        ) == (0, "")
        assert cs.device.bindings.get(cs.load_control.key) is None
        assert await eg.write_limit(Direction.CONSUME, True, 4200, 60) == (1, "write denied due to missing binding")
        assert backend.limit_writes == []


async def test_second_box_cannot_bind_the_same_feature() -> None:
    backend = MemoryBackend(grid=GRID)
    cs = ControllableSystem(backend, IDENTITY)
    first = await start_pair(backend=backend, cs=cs)
    second_eg = EnergyGuard(heartbeat_interval_s=0.2)
    from smartgrid.spine.transport import memory_pair

    a, b = memory_pair("cs", "eg-2")
    tasks = [asyncio.create_task(cs.serve(a)), asyncio.create_task(second_eg.serve(b))]
    await asyncio.wait_for(second_eg.ready.wait(), 5)
    results = {what: (number, text) for what, number, text in second_eg.setup_results}
    assert results["bind LoadControl"] == (1, "the server feature already has a binding")
    assert results["subscribe LoadControl"] == (0, "")
    assert await second_eg.write_limit(Direction.CONSUME, True, 100, 60) == (1, "write denied due to missing binding")
    # the first box's write still works, and the second box is notified as subscriber
    assert await first.eg.write_limit(Direction.CONSUME, True, 2000, 60) == (0, "")
    await second_eg.wait_for(lambda: second_eg.limits[Direction.CONSUME].value_w == 2000)
    # when the first box goes, its binding goes with it
    await stop_pair(first)
    assert cs.device.bindings.get(cs.load_control.key) is None
    await a.close("over")
    await asyncio.gather(*tasks)


async def test_heartbeats_flow_both_ways() -> None:
    async with running_pair() as pair:
        eg, backend = pair.eg, pair.backend
        await eg.wait_for(lambda: len(eg.heartbeats) >= 3, within_s=5)  # CS: every 0.3 s (timeout 2.3 s)
        received = [c for c in eg.heartbeats if c is not None]
        assert received == sorted(received) and len(received) == len(eg.heartbeats)
        await asyncio.sleep(0.7)
        counters = [c for ski, c in backend.heartbeats if ski == EG_SKI and c is not None]
        assert len(counters) >= 3 and counters == sorted(set(counters))
        # the box stops: no more heartbeats reach the backend
        eg.stop_heartbeat()
        await asyncio.sleep(0.3)
        stopped_at = len(backend.heartbeats)
        await asyncio.sleep(0.6)
        assert len(backend.heartbeats) == stopped_at
        eg.resume_heartbeat()
        await asyncio.sleep(0.6)
        assert len(backend.heartbeats) > stopped_at


async def test_repeated_heartbeat_counter_is_not_counted_again() -> None:
    backend = MemoryBackend(grid=GRID)
    cs = ControllableSystem(backend, IDENTITY)
    eg = EnergyGuard(heartbeat_interval_s=30)  # no periodic heartbeat in this test
    pair = await start_pair(backend=backend, cs=cs, eg=eg)
    await asyncio.sleep(0.1)
    assert [c for _, c in backend.heartbeats] == [1]  # the CS read it once after subscribing
    # the box re-notifies the same heartbeat (e.g. after reconnecting): not counted
    await eg.device.notify(eg.diagnosis, "deviceDiagnosisHeartbeatData")
    await asyncio.sleep(0.1)
    assert [c for _, c in backend.heartbeats] == [1]
    await stop_pair(pair)
    # a reconnect re-reports counter 1 with the same timestamp: still not counted
    pair = await start_pair(backend=backend, cs=cs, eg=eg)
    await asyncio.sleep(0.1)
    assert [c for _, c in backend.heartbeats] == [1]
    eg.device._tick_heartbeat()
    await eg.device.notify(eg.diagnosis, "deviceDiagnosisHeartbeatData")
    await asyncio.sleep(0.1)
    assert [c for _, c in backend.heartbeats] == [1, 2]
    await stop_pair(pair)


async def test_refresh_notifies_an_expired_limit() -> None:
    async with running_pair() as pair:
        eg, cs = pair.eg, pair.cs
        assert await eg.write_limit(Direction.CONSUME, True, 4200, 1) == (0, "")
        await eg.wait_for(lambda: eg.limits[Direction.CONSUME].active)
        await asyncio.sleep(1.1)
        await cs.refresh()
        await eg.wait_for(lambda: not eg.limits[Direction.CONSUME].active)
        # an unchanged backend notifies nothing
        count = eg.notifications.count("loadControlLimitListData")
        await cs.refresh()
        await asyncio.sleep(0.05)
        assert eg.notifications.count("loadControlLimitListData") == count


async def test_refresh_notifies_a_change_from_the_product() -> None:
    async with running_pair() as pair:
        pair.backend.set_limit(Direction.PRODUCE, PowerLimit(True, 5000, None))
        pair.backend.failsafe_s = 4 * 3600
        await pair.cs.refresh()
        await pair.eg.wait_for(
            lambda: pair.eg.limits[Direction.PRODUCE].value_w == -5000 and pair.eg.failsafe_duration_s == 14400
        )


async def test_measurements_unavailable_are_marked_error() -> None:
    async with running_pair(backend=MemoryBackend()) as pair:
        peer = pair.eg.peer
        assert peer is not None
        data = peer.remote_data[((2,), 2, "measurementListData")]
        assert {item["valueState"] for item in data["measurementData"]} == {"error"}
        assert pair.eg.measurements == {}
        pair.backend.grid = GRID
        await pair.cs.refresh()
        await pair.eg.wait_for(lambda: pair.eg.measurements.get("acPowerTotal") == 1500)


class BrokenBackend(MemoryBackend):
    async def write_limit(self, direction: Direction, limit: PowerLimit, peer_ski: str) -> None:
        raise RuntimeError("database gone")


async def test_a_failing_backend_gives_an_error_result_and_the_cs_keeps_serving() -> None:
    async with running_pair(backend=BrokenBackend(grid=GRID)) as pair:
        assert await pair.eg.write_limit(Direction.CONSUME, True, 4200, 60) == (1, "internal error")
        assert await pair.eg.write_failsafe(Direction.CONSUME, 4000.0) == (0, "")


@pytest.mark.parametrize(("entity_type", "counted"), [("GridGuard", True), ("CEM", True), ("Inverter", False)])
async def test_heartbeat_only_from_energy_guard_entities(entity_type: str, counted: bool) -> None:
    eg = EnergyGuard(heartbeat_interval_s=0.1, entity_type=entity_type)
    async with running_pair(eg=eg) as pair:
        await asyncio.sleep(0.4)
        assert bool(pair.backend.heartbeats) is counted
        # the box can still write its limits
        assert await eg.write_limit(Direction.CONSUME, True, 4200, 60) == (0, "")


async def test_a_peer_that_stops_reading_does_not_block_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    import smartgrid.spine.peer as peer_module
    from smartgrid.spine.transport import memory_pair

    monkeypatch.setattr(peer_module, "SEND_TIMEOUT_S", 0.3)
    backend = MemoryBackend(grid=GRID)
    cs = ControllableSystem(backend, IDENTITY, heartbeat_timeout_s=30)
    stuck = await start_pair(backend=backend, cs=cs)
    healthy = EnergyGuard(heartbeat_interval_s=30)
    a, b = memory_pair("cs", "eg-2")
    tasks = [asyncio.create_task(cs.serve(a)), asyncio.create_task(healthy.serve(b))]
    await asyncio.wait_for(healthy.ready.wait(), 5)

    async def never(datagram: object) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(stuck.cs_end, "send", never)
    backend.set_limit(Direction.CONSUME, PowerLimit(True, 1234, None))
    started = asyncio.get_running_loop().time()
    await cs.refresh()
    assert asyncio.get_running_loop().time() - started < 1.5
    await healthy.wait_for(lambda: healthy.limits[Direction.CONSUME].value_w == 1234)
    await asyncio.wait_for(stuck.tasks[0], 5)  # the stuck connection was closed
    assert len(cs.peers) == 1
    await a.close("over")
    await asyncio.gather(*tasks)
    await stop_pair(stuck)


async def test_reconnects_leave_nothing_behind() -> None:
    backend = MemoryBackend(grid=GRID)
    cs = ControllableSystem(backend, IDENTITY, heartbeat_timeout_s=30)
    for _ in range(20):
        pair = await start_pair(backend=backend, cs=cs, eg=EnergyGuard(heartbeat_interval_s=30))
        assert len(cs.peers) == 1 and len(cs.device.bindings) == 2
        await stop_pair(pair)
    assert not cs.peers and not cs.device.bindings and not cs._heartbeat_subscribed
    assert len(cs._last_heartbeat) == 1
    assert cs.device._heartbeat_task is None


async def test_box_reconnects_and_writes_again() -> None:
    backend = MemoryBackend(grid=GRID)
    cs = ControllableSystem(backend, IDENTITY, heartbeat_timeout_s=30)
    eg = EnergyGuard(heartbeat_interval_s=30)
    pair = await start_pair(backend=backend, cs=cs, eg=eg)
    assert await eg.write_limit(Direction.CONSUME, True, 4200, 60) == (0, "")
    await stop_pair(pair)
    assert await eg.write_limit(Direction.CONSUME, True, 4100, 60) == (5, "no controllable system connected")
    pair = await start_pair(backend=backend, cs=cs, eg=eg)
    assert eg.limits[Direction.CONSUME].value_w == 4200  # read again after the reconnect
    assert await eg.write_limit(Direction.CONSUME, True, 4000, 60) == (0, "")
    assert [w[1].value_w for w in backend.limit_writes] == [4200, 4000]
    await stop_pair(pair)
