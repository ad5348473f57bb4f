"""The Controllable System: an EnergyManagementSystem device with a CEM entity that carries LPC and
LPP (actor ControllableSystem) and MPC (MonitoredUnit), and a GridConnectionPointOfPremises entity
with MGCP (GridConnectionPoint). Feature layout and data as eebus-go v0.7.0's cs/lpc + cs/lpp.

Writes are checked here (sign, ranges, shape) before the backend sees them; a refused write
changes nothing and is answered with errorNumber 7 (commandRejected) and the reason, a write of
the wrong shape with 1 (generalError); an accepted one with 0 after the subscribers were notified.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from smartgrid.spine import lists, measurements
from smartgrid.spine.backend import ControllableBackend, Direction, GridMeasurements, PowerLimit, Rejected
from smartgrid.spine.device import LocalDevice
from smartgrid.spine.local import LocalFeature
from smartgrid.spine.model import Address, Cmd, ErrorNumber, SpineError, device_address, is_uint
from smartgrid.spine.peer import Peer
from smartgrid.spine.transport import Transport
from smartgrid.spine.values import (
    BadValue,
    format_duration,
    parse_duration,
    parse_end_time,
    parse_scaled_number,
    scaled_number,
)

log = logging.getLogger(__name__)

LPC = "limitationOfPowerConsumption"
LPP = "limitationOfPowerProduction"
MPC = "monitoringOfPowerConsumption"
MGCP = "monitoringOfGridConnectionPoint"
ACCEPTED_EG_ENTITIES = frozenset({"GridGuard", "CEM"})  # CEM: KEO's SMGW (eebus-go cs/lpc)
LIMIT_IDS = {0: Direction.CONSUME, 1: Direction.PRODUCE}
KEY_FAILSAFE_CONSUMPTION = 0
KEY_FAILSAFE_DURATION = 1
KEY_FAILSAFE_PRODUCTION = 2
FAILSAFE_DURATION_MIN_S = 2 * 3600
FAILSAFE_DURATION_MAX_S = 24 * 3600
END_TOLERANCE_S = 2.0
MAX_HEARTBEAT_PEERS = 64
APPROVAL_TIMEOUT_S = 10.0  # spine-go's defaultMaxResponseDelay for write approvals


@dataclass(frozen=True)
class Identity:
    brand: str
    model: str
    serial: str
    ship_id: str


def limit_descriptions() -> dict[str, Any]:
    def description(limit_id: int, direction: str) -> dict[str, Any]:
        return {
            "limitId": limit_id,
            "limitType": "signDependentAbsValueLimit",
            "limitCategory": "obligation",
            "limitDirection": direction,
            "measurementId": 0,  # "fake ... But KEO requires this" (eebus-go)
            "unit": "W",
            "scopeType": "activePowerLimit",
        }

    return {"loadControlLimitDescriptionData": [description(0, "consume"), description(1, "produce")]}


def key_value_descriptions() -> dict[str, Any]:
    return {
        "deviceConfigurationKeyValueDescriptionData": [
            {
                "keyId": KEY_FAILSAFE_CONSUMPTION,
                "keyName": "failsafeConsumptionActivePowerLimit",
                "valueType": "scaledNumber",
                "unit": "W",
            },
            {"keyId": KEY_FAILSAFE_DURATION, "keyName": "failsafeDurationMinimum", "valueType": "duration"},
            {
                "keyId": KEY_FAILSAFE_PRODUCTION,
                "keyName": "failsafeProductionActivePowerLimit",
                "valueType": "scaledNumber",
                "unit": "W",
            },
        ]
    }


class ControllableSystem:
    def __init__(self, backend: ControllableBackend, identity: Identity, *, heartbeat_timeout_s: float = 4.0) -> None:
        self.backend = backend
        self.identity = identity
        self.device = LocalDevice(
            brand=identity.brand,
            model=identity.model,
            serial=identity.serial,
            ship_id=identity.ship_id,
            device_type="EnergyManagementSystem",
            address=device_address(identity.brand, identity.model, identity.serial),
            heartbeat_timeout_s=heartbeat_timeout_s,
        )
        self.device.app = self
        self._lock = asyncio.Lock()
        self._loaded = False
        self._limits: dict[Direction, PowerLimit] = {d: PowerLimit(False, 0.0) for d in Direction}
        self._ends: dict[Direction, float | None] = {d: None for d in Direction}
        self._failsafe_w: dict[Direction, float] = {d: 0.0 for d in Direction}
        self._failsafe_s = 7200.0
        self._nominal_w: dict[Direction, float] = {d: 0.0 for d in Direction}
        self._grid: GridMeasurements | None = None
        self._last_heartbeat: dict[str, tuple[Any, Any]] = {}
        self._heartbeat_subscribed: dict[Peer, set[tuple[int, ...]]] = {}

        cem = self.device.add_entity("CEM")
        self.load_control = cem.add_feature("LoadControl", "server")
        self.load_control.add_function("loadControlLimitDescriptionListData", limit_descriptions)
        self.load_control.add_function("loadControlLimitListData", self._limit_list, write=True, partial=True)
        self.load_control.write_handler = self._write_limits
        self.configuration = cem.add_feature("DeviceConfiguration", "server")
        self.configuration.add_function("deviceConfigurationKeyValueDescriptionListData", key_value_descriptions)
        self.configuration.add_function(
            "deviceConfigurationKeyValueListData", self._key_values, write=True, partial=True
        )
        self.configuration.write_handler = self._write_configuration
        self.diagnosis = cem.add_feature("DeviceDiagnosis", "server")
        self.device.enable_heartbeat(self.diagnosis)
        self.diagnosis_client = cem.add_feature("DeviceDiagnosis", "client")
        self.electrical = cem.add_feature("ElectricalConnection", "server")
        self.electrical.add_function("electricalConnectionCharacteristicListData", self._characteristics)
        self.electrical.add_function("electricalConnectionDescriptionListData", measurements.connection_description)
        self.electrical.add_function(
            "electricalConnectionParameterDescriptionListData",
            lambda: measurements.parameter_descriptions(measurements.MPC_POINTS),
        )
        self.measurement = cem.add_feature("Measurement", "server")
        self.measurement.add_function(
            "measurementDescriptionListData", lambda: measurements.descriptions(measurements.MPC_POINTS)
        )
        self.measurement.add_function(
            "measurementListData", lambda: measurements.values(measurements.MPC_POINTS, self._grid)
        )
        gcp = self.device.add_entity("GridConnectionPointOfPremises")
        self.gcp_electrical = gcp.add_feature("ElectricalConnection", "server")
        self.gcp_electrical.add_function("electricalConnectionDescriptionListData", measurements.connection_description)
        self.gcp_electrical.add_function(
            "electricalConnectionParameterDescriptionListData",
            lambda: measurements.parameter_descriptions(measurements.MGCP_POINTS),
        )
        self.gcp_measurement = gcp.add_feature("Measurement", "server")
        self.gcp_measurement.add_function(
            "measurementDescriptionListData", lambda: measurements.descriptions(measurements.MGCP_POINTS)
        )
        self.gcp_measurement.add_function(
            "measurementListData", lambda: measurements.values(measurements.MGCP_POINTS, self._grid)
        )

        self.device.add_use_case(cem, "ControllableSystem", LPC, (1, 2, 3, 4))
        self.device.add_use_case(cem, "ControllableSystem", LPP, (1, 2, 3, 4))
        self.device.add_use_case(cem, "MonitoredUnit", MPC, (1, 2, 3, 4, 5))
        # scenario 1 (pvCurtailmentLimitFactor) is optional and not offered
        self.device.add_use_case(gcp, "GridConnectionPoint", MGCP, (2, 3, 4, 5, 6, 7))

    @property
    def address(self) -> str:
        return self.device.address

    @property
    def peers(self) -> set[Peer]:
        return self.device.peers

    # --- running -------------------------------------------------------------------------------
    async def serve(self, transport: Transport) -> None:
        """Run one peer connection until it closes (several may run at once)."""
        if not self._loaded:
            await self.refresh()
        await self.device.serve(transport)

    async def refresh(self) -> None:
        """Re-read the backend and notify subscribers of whatever changed."""
        async with self._lock:
            changed = await self._load()
        for feature, function in changed:
            await self.device.notify(feature, function)

    async def _load(self) -> list[tuple[LocalFeature, str]]:
        changed: list[tuple[LocalFeature, str]] = []
        now = time.monotonic()
        limits_changed = False
        for direction in Direction:
            limit = await self.backend.limit(direction)
            end = None if limit.duration_s is None else now + max(0.0, limit.duration_s)
            old, old_end = self._limits[direction], self._ends[direction]
            if (
                old.active != limit.active
                or abs(old.value_w - limit.value_w) > 1e-6
                or (end is None) != (old_end is None)
                or (end is not None and old_end is not None and abs(end - old_end) > END_TOLERANCE_S)
            ):
                limits_changed = True
                self._limits[direction] = limit
                self._ends[direction] = end
        if limits_changed:
            changed.append((self.load_control, "loadControlLimitListData"))
        failsafe = {d: await self.backend.failsafe_value_w(d) for d in Direction}
        duration = await self.backend.failsafe_duration_s()
        if failsafe != self._failsafe_w or duration != self._failsafe_s:
            self._failsafe_w, self._failsafe_s = failsafe, duration
            changed.append((self.configuration, "deviceConfigurationKeyValueListData"))
        nominal = {d: await self.backend.nominal_max_w(d) for d in Direction}
        if nominal != self._nominal_w:
            self._nominal_w = nominal
            changed.append((self.electrical, "electricalConnectionCharacteristicListData"))
        grid = await self.backend.measurements()
        if grid != self._grid:
            self._grid = grid
            changed.append((self.measurement, "measurementListData"))
            changed.append((self.gcp_measurement, "measurementListData"))
        if not self._loaded:
            self._loaded = True
        return changed

    # --- served data ---------------------------------------------------------------------------
    def _limit_list(self) -> dict[str, Any]:
        now = time.monotonic()
        items = []
        for limit_id, direction in LIMIT_IDS.items():
            limit = self._limits[direction]
            item: dict[str, Any] = {"limitId": limit_id, "isLimitChangeable": True, "isLimitActive": limit.active}
            end = self._ends[direction]
            if end is not None:
                item["timePeriod"] = {"endTime": format_duration(max(0, round(end - now)))}
            value = limit.value_w if direction is Direction.CONSUME else -limit.value_w
            item["value"] = scaled_number(value + 0.0)
            items.append(item)
        return {"loadControlLimitData": items}

    def _key_values(self) -> dict[str, Any]:
        return {
            "deviceConfigurationKeyValueData": [
                {
                    "keyId": KEY_FAILSAFE_CONSUMPTION,
                    "value": {"scaledNumber": scaled_number(self._failsafe_w[Direction.CONSUME])},
                    "isValueChangeable": True,
                },
                {
                    "keyId": KEY_FAILSAFE_DURATION,
                    "value": {"duration": format_duration(self._failsafe_s)},
                    "isValueChangeable": True,
                },
                {
                    "keyId": KEY_FAILSAFE_PRODUCTION,
                    "value": {"scaledNumber": scaled_number(self._failsafe_w[Direction.PRODUCE])},
                    "isValueChangeable": True,
                },
            ]
        }

    def _characteristics(self) -> dict[str, Any]:
        return {
            "electricalConnectionCharacteristicData": [
                {
                    "electricalConnectionId": 0,
                    "parameterId": 0,
                    "characteristicId": index,
                    "characteristicContext": "entity",
                    "characteristicType": ctype,
                    "value": scaled_number(self._nominal_w[direction]),
                    "unit": "W",
                }
                for index, (ctype, direction) in enumerate(
                    (
                        ("contractualConsumptionNominalMax", Direction.CONSUME),
                        ("contractualProductionNominalMax", Direction.PRODUCE),
                    )
                )
            ]
        }

    # --- writes --------------------------------------------------------------------------------
    async def _write_limits(self, peer: Peer, feature: LocalFeature, cmd: Cmd) -> tuple[int, str]:
        try:
            writes = check_limit_write(self._limit_list(), cmd)
        except SpineError as exc:
            return exc.number, exc.description
        for direction, limit in writes:
            try:
                await asyncio.wait_for(self.backend.write_limit(direction, limit, peer.ski), APPROVAL_TIMEOUT_S)
            except Rejected as exc:
                return ErrorNumber.COMMAND_REJECTED, exc.reason
            except TimeoutError:
                return ErrorNumber.GENERAL_ERROR, "write not approved in time by application"
        log.info("SPINE: %s wrote %s", peer.ski, writes)
        await self.refresh()
        return ErrorNumber.NO_ERROR, ""

    async def _write_configuration(self, peer: Peer, feature: LocalFeature, cmd: Cmd) -> tuple[int, str]:
        try:
            values, duration = check_configuration_write(cmd)
        except SpineError as exc:
            return exc.number, exc.description
        try:
            calls: list[tuple[Direction | None, float | None, float | None]] = [
                (direction, value, None) for direction, value in values.items()
            ]
            if duration is not None:
                if calls:
                    direction, value, _ = calls[0]
                    calls[0] = (direction, value, duration)
                else:
                    calls.append((None, None, duration))
            for direction, value, dur in calls:
                await asyncio.wait_for(self.backend.write_failsafe(direction, value, dur, peer.ski), APPROVAL_TIMEOUT_S)
        except Rejected as exc:
            return ErrorNumber.COMMAND_REJECTED, exc.reason
        except TimeoutError:
            return ErrorNumber.GENERAL_ERROR, "write not approved in time by application"
        await self.refresh()
        return ErrorNumber.NO_ERROR, ""

    # --- the engine's callbacks ----------------------------------------------------------------
    def _eg_entities(self, peer: Peer) -> list[tuple[int, ...]]:
        found: list[tuple[int, ...]] = []
        for name in (LPC, LPP):
            for entity in peer.entities_with_use_case("EnergyGuard", name):
                if peer.remote_entities.get(entity) in ACCEPTED_EG_ENTITIES and entity not in found:
                    found.append(entity)
        return found[:4]

    async def on_peer_ready(self, peer: Peer) -> None:
        subscribed = self._heartbeat_subscribed.setdefault(peer, set())
        for entity in self._eg_entities(peer):
            if entity in subscribed:
                continue
            diagnosis = peer.remote_feature(entity, "DeviceDiagnosis", "server")
            if diagnosis is None:
                continue
            subscribed.add(entity)
            try:
                number, text = await peer.subscribe(self.diagnosis_client, diagnosis.address, "DeviceDiagnosis")
                if number:
                    log.warning("SPINE: heartbeat subscription at %s refused: %s %s", peer.ski, number, text)
                await peer.read(self.diagnosis_client, diagnosis.address, "deviceDiagnosisHeartbeatData")
            except SpineError as exc:
                log.warning("SPINE: heartbeat read from %s failed: %s", peer.ski, exc.description)

    async def on_remote_data(self, peer: Peer, source: Address, function: str, data: Any) -> None:
        if function != "deviceDiagnosisHeartbeatData":
            return
        entity_type = peer.remote_entities.get(source.entity)
        if entity_type is not None and entity_type not in ACCEPTED_EG_ENTITIES:
            return
        counter = data.get("heartbeatCounter")
        if not is_uint(counter):
            counter = None
        timestamp = data.get("timestamp")
        if not isinstance(timestamp, str):
            timestamp = None
        seen = (counter, timestamp)
        if self._last_heartbeat.get(peer.ski) == seen:
            return  # not moved: e.g. a reconnecting box re-reporting its old counter
        if peer.ski not in self._last_heartbeat and len(self._last_heartbeat) >= MAX_HEARTBEAT_PEERS:
            self._last_heartbeat.pop(next(iter(self._last_heartbeat)))
        self._last_heartbeat[peer.ski] = seen
        await self.backend.heartbeat(peer.ski, counter)

    async def on_peer_closed(self, peer: Peer) -> None:
        self._heartbeat_subscribed.pop(peer, None)


# --- write approval (pure, table-tested) -------------------------------------------------------
def check_limit_write(current: dict[str, Any], cmd: Cmd) -> list[tuple[Direction, PowerLimit]]:
    """The limits a loadControlLimitListData write sets, or SpineError (7 refused, 1 wrong shape).

    Fields a partial write leaves out keep their current value (spine-go's merge); a delete filter
    may remove a limit's timePeriod (no end)."""
    function = "loadControlLimitListData"
    new_items = lists.items_of(function, cmd.data)
    touched: set[Any] = {item.get("limitId") for item in new_items}
    if cmd.delete_filter is not None:
        selectors = cmd.delete_filter.get(f"{function}Selectors")
        elements = cmd.delete_filter.get("loadControlLimitDataElements")
        if not isinstance(selectors, dict) or not isinstance(elements, dict) or set(elements) != {"timePeriod"}:
            raise SpineError(ErrorNumber.COMMAND_REJECTED, "only a limit's timePeriod may be deleted")
        touched.add(selectors.get("limitId"))
    if not touched:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "the write holds no limit")
    for limit_id in touched:
        if not is_uint(limit_id) or limit_id not in LIMIT_IDS:
            raise SpineError(ErrorNumber.COMMAND_REJECTED, f"unknown limitId {str(limit_id)[:20]}")
    merged = lists.merge(function, current, cmd.data, cmd.partial, cmd.delete_filter)
    writes: list[tuple[Direction, PowerLimit]] = []
    for item in merged["loadControlLimitData"]:
        limit_id = item.get("limitId")
        if limit_id not in touched:
            continue
        direction = LIMIT_IDS[limit_id]
        active = item.get("isLimitActive")
        if not isinstance(active, bool):
            raise SpineError(ErrorNumber.GENERAL_ERROR, "isLimitActive must be true or false")
        try:
            value = parse_scaled_number(item.get("value"))
        except BadValue as exc:
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"value: {exc}") from None
        duration: float | None = None
        period = item.get("timePeriod")
        if period is not None:
            if not isinstance(period, dict):
                raise SpineError(ErrorNumber.GENERAL_ERROR, "timePeriod must be an object")
            if period.get("endTime") is not None:
                try:
                    duration = parse_end_time(period["endTime"])
                except BadValue as exc:
                    raise SpineError(ErrorNumber.GENERAL_ERROR, f"timePeriod.endTime: {exc}") from None
        if direction is Direction.CONSUME and value < 0:
            raise SpineError(ErrorNumber.COMMAND_REJECTED, "negative limit: a consumption limit is >= 0 W")
        if direction is Direction.PRODUCE and value > 0:
            raise SpineError(ErrorNumber.COMMAND_REJECTED, "positive limit: a production limit is <= 0 W")
        writes.append((direction, PowerLimit(active, abs(value), duration)))
    return writes


def check_configuration_write(cmd: Cmd) -> tuple[dict[Direction, float], float | None]:
    """(failsafe values by direction, failsafe duration) of a deviceConfigurationKeyValueListData
    write, or SpineError (7 refused, 1 wrong shape)."""
    if cmd.delete_filter is not None:
        raise SpineError(ErrorNumber.COMMAND_REJECTED, "configuration values cannot be deleted")
    items = lists.items_of("deviceConfigurationKeyValueListData", cmd.data)
    if not items:
        raise SpineError(ErrorNumber.GENERAL_ERROR, "the write holds no value")
    values: dict[Direction, float] = {}
    duration: float | None = None
    for item in items:
        key_id = item.get("keyId")
        value = item.get("value")
        if key_id not in (KEY_FAILSAFE_CONSUMPTION, KEY_FAILSAFE_DURATION, KEY_FAILSAFE_PRODUCTION) or not is_uint(
            key_id
        ):
            raise SpineError(ErrorNumber.COMMAND_REJECTED, f"unknown keyId {str(key_id)[:20]}")
        if not isinstance(value, dict):
            raise SpineError(ErrorNumber.GENERAL_ERROR, f"keyId {key_id}: value must be an object")
        if key_id == KEY_FAILSAFE_DURATION:
            if "duration" not in value:
                raise SpineError(ErrorNumber.GENERAL_ERROR, "failsafeDurationMinimum takes a duration")
            try:
                seconds = parse_duration(value["duration"])
            except BadValue as exc:
                raise SpineError(ErrorNumber.GENERAL_ERROR, f"failsafeDurationMinimum: {exc}") from None
            if not FAILSAFE_DURATION_MIN_S <= seconds <= FAILSAFE_DURATION_MAX_S:
                raise SpineError(ErrorNumber.COMMAND_REJECTED, "failsafe duration outside 2-24 h")
            duration = seconds
        else:
            if "scaledNumber" not in value:
                raise SpineError(ErrorNumber.GENERAL_ERROR, f"keyId {key_id} takes a scaledNumber")
            try:
                watts = parse_scaled_number(value["scaledNumber"])
            except BadValue as exc:
                raise SpineError(ErrorNumber.GENERAL_ERROR, f"keyId {key_id}: {exc}") from None
            if watts < 0:
                raise SpineError(ErrorNumber.COMMAND_REJECTED, "negative failsafe value: failsafe limits are >= 0 W")
            direction = Direction.CONSUME if key_id == KEY_FAILSAFE_CONSUMPTION else Direction.PRODUCE
            values[direction] = watts
    return values, duration
