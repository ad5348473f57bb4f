"""An Energy Guard (control box) device for the simulator and the tests: ElectricitySupplySystem,
GridGuard entity, EG LPC/LPP and MonitoringAppliance MPC/MGCP, like andig/controlbox on eebus-go.

After discovery it subscribes and binds LoadControl and DeviceConfiguration of the controllable
system, reads descriptions, values and nominal maxima, subscribes to its heartbeat, and reads the
MGCP measurements. It sends its own heartbeat (stop/resume for tests). Everything it learns stays
observable on the object.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from smartgrid.spine.backend import Direction
from smartgrid.spine.cs import LPC, LPP, MGCP, MPC, Identity
from smartgrid.spine.device import LocalDevice
from smartgrid.spine.model import Address, ErrorNumber, SpineError, device_address
from smartgrid.spine.peer import Peer
from smartgrid.spine.transport import Transport
from smartgrid.spine.values import BadValue, format_duration, parse_duration, parse_end_time, parse_scaled_number

log = logging.getLogger(__name__)

CS_ENTITY_TYPES = frozenset(
    {"CEM", "Compressor", "EVSE", "HeatPumpAppliance", "Inverter", "SmartEnergyAppliance", "SubMeterElectricity"}
)


@dataclass
class ObservedLimit:
    active: bool
    value_w: float  # as on the wire (LPP negative)
    duration_s: float | None


@dataclass
class EgPeerState:
    cs_entity: tuple[int, ...] | None = None
    gcp_entity: tuple[int, ...] | None = None
    load_control: Address | None = None
    configuration: Address | None = None
    limit_ids: dict[Direction, int] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)


class EnergyGuard:
    def __init__(
        self,
        identity: Identity | None = None,
        *,
        heartbeat_interval_s: float = 8.0,
        heartbeat_timeout_s: float | None = None,
        entity_type: str = "GridGuard",
    ) -> None:
        identity = identity or Identity("Demo", "ControlBox", "123456789", "ControlBox Simulator SN-123456789")
        self.identity = identity
        self.device = LocalDevice(
            brand=identity.brand,
            model=identity.model,
            serial=identity.serial,
            ship_id=identity.ship_id,
            device_type="ElectricitySupplySystem",
            address=device_address(identity.brand, identity.model, identity.serial),
            heartbeat_timeout_s=heartbeat_timeout_s or heartbeat_interval_s + 2,
            heartbeat_interval_s=heartbeat_interval_s,
        )
        self.device.app = self
        guard = self.device.add_entity(entity_type)  # KEO's gateway uses CEM
        self.load_control = guard.add_feature("LoadControl", "client")
        self.configuration = guard.add_feature("DeviceConfiguration", "client")
        self.diagnosis_client = guard.add_feature("DeviceDiagnosis", "client")
        self.diagnosis = guard.add_feature("DeviceDiagnosis", "server")
        self.device.enable_heartbeat(self.diagnosis)
        self.electrical = guard.add_feature("ElectricalConnection", "client")
        self.measurement = guard.add_feature("Measurement", "client")
        self.device.add_use_case(guard, "EnergyGuard", LPC, (1, 2, 3, 4))
        self.device.add_use_case(guard, "EnergyGuard", LPP, (1, 2, 3, 4))
        self.device.add_use_case(guard, "MonitoringAppliance", MPC, (1, 2, 3, 4, 5))
        self.device.add_use_case(guard, "MonitoringAppliance", MGCP, (1, 2, 3, 4, 5, 6, 7))

        self.peer: Peer | None = None
        self.state = EgPeerState()
        self.ready = asyncio.Event()
        self.setup_results: list[tuple[str, int, str]] = []
        self.limits: dict[Direction, ObservedLimit] = {}
        self.failsafe_w: dict[Direction, float] = {}
        self.failsafe_duration_s: float | None = None
        self.nominal_max_w: dict[str, float] = {}
        self.measurements: dict[str, float] = {}  # MGCP scope (+ phase) -> value
        self.heartbeats: list[int | None] = []  # the CS's heartbeat counters as received
        self.notifications: list[str] = []  # function names of every reply/notify, in order
        self.changed = asyncio.Condition()

    @property
    def address(self) -> str:
        return self.device.address

    # --- heartbeat control ---------------------------------------------------------------------
    def stop_heartbeat(self) -> None:
        self.device.heartbeat_paused = True

    def resume_heartbeat(self) -> None:
        self.device.heartbeat_paused = False

    # --- running -------------------------------------------------------------------------------
    async def serve(self, transport: Transport) -> None:
        await self.device.serve(transport)

    async def wait_for(self, predicate: Any, within_s: float = 5.0) -> None:
        """Wait until ``predicate()`` holds (re-checked after every received data)."""

        async def waiter() -> None:
            async with self.changed:
                await self.changed.wait_for(predicate)

        await asyncio.wait_for(waiter(), within_s)

    async def on_peer_ready(self, peer: Peer) -> None:
        self.peer = peer
        state = self.state
        for entity in peer.entities_with_use_case("ControllableSystem", LPC) + peer.entities_with_use_case(
            "ControllableSystem", LPP
        ):
            if peer.remote_entities.get(entity) in CS_ENTITY_TYPES:
                state.cs_entity = entity
                break
        gcp = peer.entities_with_use_case("GridConnectionPoint", MGCP)
        state.gcp_entity = gcp[0] if gcp else None
        if state.cs_entity is not None:
            await self._setup_cs(peer, state.cs_entity)
        if state.gcp_entity is not None:
            await self._setup_gcp(peer, state.gcp_entity)
        self.ready.set()
        await self._changed()

    async def _record(self, what: str, result: tuple[int, str]) -> None:
        self.setup_results.append((what, result[0], result[1]))

    async def _setup_cs(self, peer: Peer, entity: tuple[int, ...]) -> None:
        state = self.state
        load_control = peer.remote_feature(entity, "LoadControl")
        if load_control is not None:
            state.load_control = load_control.address
            await self._record(
                "subscribe LoadControl", await peer.subscribe(self.load_control, load_control.address, "LoadControl")
            )
            await self._record(
                "bind LoadControl", await peer.bind(self.load_control, load_control.address, "LoadControl")
            )
            await self._read(peer, self.load_control, load_control.address, "loadControlLimitDescriptionListData")
            await self._read(peer, self.load_control, load_control.address, "loadControlLimitListData")
        configuration = peer.remote_feature(entity, "DeviceConfiguration")
        if configuration is not None:
            state.configuration = configuration.address
            await self._record(
                "subscribe DeviceConfiguration",
                await peer.subscribe(self.configuration, configuration.address, "DeviceConfiguration"),
            )
            await self._record(
                "bind DeviceConfiguration",
                await peer.bind(self.configuration, configuration.address, "DeviceConfiguration"),
            )
            await self._read(
                peer, self.configuration, configuration.address, "deviceConfigurationKeyValueDescriptionListData"
            )
            await self._read(peer, self.configuration, configuration.address, "deviceConfigurationKeyValueListData")
        diagnosis = peer.remote_feature(entity, "DeviceDiagnosis")
        if diagnosis is not None:
            await self._record(
                "subscribe DeviceDiagnosis",
                await peer.subscribe(self.diagnosis_client, diagnosis.address, "DeviceDiagnosis"),
            )
            await self._read(peer, self.diagnosis_client, diagnosis.address, "deviceDiagnosisHeartbeatData")
        electrical = peer.remote_feature(entity, "ElectricalConnection")
        if electrical is not None:
            await self._read(peer, self.electrical, electrical.address, "electricalConnectionCharacteristicListData")

    async def _setup_gcp(self, peer: Peer, entity: tuple[int, ...]) -> None:
        measurement = peer.remote_feature(entity, "Measurement")
        if measurement is None:
            return
        await self._record(
            "subscribe Measurement", await peer.subscribe(self.measurement, measurement.address, "Measurement")
        )
        await self._read(peer, self.measurement, measurement.address, "measurementDescriptionListData")
        await self._read(peer, self.measurement, measurement.address, "measurementListData")

    async def _read(self, peer: Peer, feature: Any, address: Address, function: str) -> None:
        try:
            await peer.read(feature, address, function)
        except SpineError as exc:
            await self._record(f"read {function}", (exc.number, exc.description))

    async def _changed(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def on_remote_data(self, peer: Peer, source: Address, function: str, data: Any) -> None:
        self.notifications.append(function)
        if len(self.notifications) > 1000:
            del self.notifications[:500]
        try:
            self._learn(peer, source, function, data)
        except (BadValue, KeyError, TypeError, AttributeError) as exc:
            log.info("EG: could not read %s: %s", function, exc)
        await self._changed()

    def _learn(self, peer: Peer, source: Address, function: str, data: Any) -> None:
        state = self.state
        if function == "loadControlLimitDescriptionListData":
            for item in data.get("loadControlLimitDescriptionData", []):
                if item.get("scopeType") == "activePowerLimit" and item.get("limitDirection") in ("consume", "produce"):
                    state.limit_ids[Direction(item["limitDirection"])] = item["limitId"]
        elif function == "loadControlLimitListData":
            for item in data.get("loadControlLimitData", []):
                for direction, limit_id in state.limit_ids.items():
                    if item.get("limitId") == limit_id:
                        period = item.get("timePeriod") or {}
                        end = period.get("endTime")
                        self.limits[direction] = ObservedLimit(
                            bool(item.get("isLimitActive")),
                            parse_scaled_number(item.get("value")),
                            None if end is None else parse_end_time(end),
                        )
        elif function == "deviceConfigurationKeyValueDescriptionListData":
            for item in data.get("deviceConfigurationKeyValueDescriptionData", []):
                state.key_ids[item["keyName"]] = item["keyId"]
        elif function == "deviceConfigurationKeyValueListData":
            names = {v: k for k, v in state.key_ids.items()}
            for item in data.get("deviceConfigurationKeyValueData", []):
                name = names.get(item.get("keyId"))
                value = item.get("value") or {}
                if name == "failsafeConsumptionActivePowerLimit":
                    self.failsafe_w[Direction.CONSUME] = parse_scaled_number(value["scaledNumber"])
                elif name == "failsafeProductionActivePowerLimit":
                    self.failsafe_w[Direction.PRODUCE] = parse_scaled_number(value["scaledNumber"])
                elif name == "failsafeDurationMinimum":
                    self.failsafe_duration_s = parse_duration(value["duration"])
        elif function == "electricalConnectionCharacteristicListData":
            for item in data.get("electricalConnectionCharacteristicData", []):
                self.nominal_max_w[item["characteristicType"]] = parse_scaled_number(item["value"])
        elif function == "deviceDiagnosisHeartbeatData":
            counter = data.get("heartbeatCounter")
            self.heartbeats.append(counter if isinstance(counter, int) else None)
            if len(self.heartbeats) > 1000:
                del self.heartbeats[:500]
        elif function == "measurementListData" and source.entity == state.gcp_entity:
            descriptions = peer.remote_data.get((source.entity, source.feature or 0, "measurementDescriptionListData"))
            scopes: dict[int, str] = {}
            if descriptions:
                for item in descriptions.get("measurementDescriptionData", []):
                    scopes[item["measurementId"]] = item["scopeType"]
            counts: dict[str, int] = {}
            for item in data.get("measurementData", []):
                scope = scopes.get(item.get("measurementId"))
                if scope is None or "value" not in item:
                    continue
                counts[scope] = counts.get(scope, 0) + 1
                name = scope if scope not in ("acCurrent", "acVoltage") else f"{scope}{counts[scope]}"
                self.measurements[name] = parse_scaled_number(item["value"])

    async def on_peer_closed(self, peer: Peer) -> None:
        if self.peer is peer:
            self.peer = None
            self.state = EgPeerState()
            self.ready.clear()

    # --- writes --------------------------------------------------------------------------------
    async def write_limit(
        self, direction: Direction, active: bool, value_w: float, duration_s: float | None = None
    ) -> tuple[int, str]:
        """Write an active power limit; ``value_w`` is the magnitude, LPP gets the passive (negative)
        sign on the wire, so a negative ``value_w`` sends a positive LPP limit. No duration: the
        timePeriod is deleted (no end), as eebus-go does. Returns (error number, description)."""
        peer, state = self.peer, self.state
        if peer is None or state.load_control is None or direction not in state.limit_ids:
            return ErrorNumber.DESTINATION_UNREACHABLE, "no controllable system connected"
        limit_id = state.limit_ids[direction]
        wire = value_w if direction is Direction.CONSUME else -value_w
        item: dict[str, Any] = {"limitId": limit_id, "isLimitActive": active, "value": _scaled(wire)}
        filters: list[dict[str, Any]] = []
        if duration_s is not None:
            item["timePeriod"] = {"endTime": format_duration(duration_s)}
        else:
            filters.append(
                {
                    "cmdControl": {"delete": {}},
                    "loadControlLimitListDataSelectors": {"limitId": limit_id},
                    "loadControlLimitDataElements": {"timePeriod": {}},
                }
            )
        filters.append({"cmdControl": {"partial": {}}})
        cmd = {
            "function": "loadControlLimitListData",
            "filter": filters,
            "loadControlLimitListData": {"loadControlLimitData": [item]},
        }
        return await peer.acked("write", self.load_control, state.load_control, cmd)

    async def write_failsafe(
        self, direction: Direction | None = None, value_w: float | None = None, duration_s: float | None = None
    ) -> tuple[int, str]:
        """Write failsafe value (per direction) and/or the shared failsafe duration minimum."""
        peer, state = self.peer, self.state
        if peer is None or state.configuration is None:
            return ErrorNumber.DESTINATION_UNREACHABLE, "no controllable system connected"
        items: list[dict[str, Any]] = []
        if direction is not None and value_w is not None:
            name = (
                "failsafeConsumptionActivePowerLimit"
                if direction is Direction.CONSUME
                else "failsafeProductionActivePowerLimit"
            )
            items.append({"keyId": state.key_ids[name], "value": {"scaledNumber": _scaled(value_w)}})
        if duration_s is not None:
            items.append(
                {"keyId": state.key_ids["failsafeDurationMinimum"], "value": {"duration": format_duration(duration_s)}}
            )
        cmd = {
            "function": "deviceConfigurationKeyValueListData",
            "filter": [{"cmdControl": {"partial": {}}}],
            "deviceConfigurationKeyValueListData": {"deviceConfigurationKeyValueData": items},
        }
        return await peer.acked("write", self.configuration, state.configuration, cmd)

    async def read_measurements(self) -> dict[str, float]:
        """Read the MGCP measurements again and return what is known."""
        peer, state = self.peer, self.state
        if peer is not None and state.gcp_entity is not None:
            measurement = peer.remote_feature(state.gcp_entity, "Measurement")
            if measurement is not None:
                await self._read(peer, self.measurement, measurement.address, "measurementListData")
        return dict(self.measurements)


def _scaled(value: float) -> dict[str, int]:
    from smartgrid.spine.values import scaled_number

    return scaled_number(value)
