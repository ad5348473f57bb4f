"""A simulated KOSTAL ENECTOR (WB-15): the box and the vehicles at it (its Modbus RTU server is
:mod:`simulator.enector_rtu`).

The box (:class:`SimEnector`) holds what the energy manager wrote (release, current limit,
requested phases, the time of the last heartbeat) and derives everything else from that, the
vehicle plugged in and the simulated time (:meth:`SimEnector.at`):

* EVSE states as the real box reports them (registers of :mod:`wallbox.registers`): 1 idle
  (no vehicle), 3 vehicle connected but not released (or below 6 A, or a phase switch under
  way), 4 ready but the vehicle draws nothing (full, or it needs more current than offered:
  event 2011 "CP EV out of signaled duty range"), 5 charging.
* Release and the current limit: 0 A = no limit (the box's maximum), 0.01-5.99 A = 0 A.
  The offered current never exceeds the DIP-switch maximum or the type's maximum.
* Heartbeat: without 0x55AA at 0x0D00 for 10 s the box goes into fallback and charges with its
  fallback current (0: keeps the last values, 1: pauses, 6-32 A), whatever was written; the
  next heartbeat ends the fallback. The box starts as if the manager was last heard at start.
* Requested phases (an AC 3.7/11 on three phases only; the others ignore the write as the real
  ones do): a change opens the relays for ``phase_switch_s`` (60 s by default here; a real box
  may take up to about 3 min), then the box charges on the new phases if still released.
* Vehicles: 1- or 3-phase, a current range, an optional power limit, SoC with capacity and an
  optional taper; plugged in on a schedule (local times every day, or instants) or on command
  (:meth:`SimEnector.plug`, :meth:`SimEnector.unplug`, :meth:`SimEnector.follow_schedule`).
  A 1-phase vehicle, a box switched to one phase or a 1-phase box charge on the box's L1;
  the box's rotation puts its L1-L3 on the grid's phases.
* The vendor block of :mod:`wallbox.registers` (defined by this product, not by MENNEKES): the
  box's Modbus address (50 from the factory; changed only while no vehicle is plugged in,
  answered at the old address, then effective) and a firmware update (begin, chunks, commit
  with CRC-32; the image's first line ``ENECTOR-FW <version>`` names the new version;
  :mod:`simulator.enector_firmware`).

A write the box refuses raises :class:`ModbusReply` with the exception code it answers.
:mod:`simulator.enector_rtu` turns the box into register reads and writes and answers RTU request
frames for it; the line itself (several boxes on one port, byte time at the baud rate,
collisions, CRC errors, faults per device) is :mod:`simulator.rtu_line`.
"""

from __future__ import annotations

import collections
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

from energy.config import NOMINAL_VOLTAGE_V, ROTATIONS, WALLBOX_LIMITS
from energy.devices import EVSE_CHARGING, EVSE_IDLE, EVSE_PRECONDITIONS, EVSE_READY
from simulator import noise
from simulator.enector_firmware import FirmwareUpdate, add_chunk, committed_version
from simulator.enector_rtu import DEVICE_BUSY, ILLEGAL_ADDRESS, ILLEGAL_VALUE, ModbusReply
from simulator.house import Phases
from simulator.scenario import CarScenario, WallboxScenario
from wallbox import registers as reg

HEARTBEAT_TIMEOUT_S = 10.0
MIN_CURRENT_A = 6.0
# The smallest current a tapering vehicle still draws before it stops, A.
TAPER_FLOOR_A = 1.0
FIRMWARE_VERSION = "2023.21.11024-20"
HARDWARE_VERSION = 3
LAYOUT_VERSION = 0x0103
# CP states (register 0x0108) as boxes report them.
CP_A, CP_B, CP_C = 10, 11, 28
SessionKey = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class BoxNow:
    """The box at one instant."""

    evse_state: int
    cp_state: int
    session: SessionKey | None
    car: CarScenario | None
    soc_pct: float | None
    offered_a: float  # what the box signals to the vehicle
    box_currents_a: Phases  # the box's own L1..L3
    error_code: int
    fallback_active: bool
    switched_single: bool
    switching: bool

    @property
    def power_w(self) -> float:
        return sum(self.box_currents_a) * NOMINAL_VOLTAGE_V

    @property
    def phases_in_use(self) -> int:
        return sum(1 for current in self.box_currents_a if current > 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class WallboxTruth:
    """A simulated box as it really is now, for tests and a replay's trace."""

    name: str
    address: int
    evse_state: int
    vehicle_connected: bool
    charging: bool
    car: str | None
    soc_pct: float | None
    offered_a: float
    current_limit_a: float  # as written: 0 = no limit
    released: bool
    requested_single_phase: bool
    switched_single_phase: bool
    switching: bool
    fallback_active: bool
    error_code: int
    phases: int  # phases the vehicle draws on now (0 while not charging)
    box_currents_a: Phases
    grid_currents_a: Phases  # per grid phase, the rotation applied
    power_w: float
    session_energy_wh: float
    heartbeat_age_s: float
    writes: int


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """A write that reached the box: simulated and wall time, register, words."""

    t_s: float
    wall_s: float
    address: int
    words: tuple[int, ...]


class SimEnector:
    """One box; :class:`simulator.model.PlantModel` owns it and calls it under its lock."""

    def __init__(self, config: WallboxScenario, zone: dt.tzinfo, seed: int, start_s: float) -> None:
        self.config = config
        self.zone = zone
        self.name = config.name
        self.address = config.address
        self.released = False
        self.limit_a = 0.0
        self.requested_single = False
        self.locked = False
        self.solar_mode = 0
        self.fallback_setting = config.fallback_current_a
        self.heartbeat_s = start_s
        self.single_phase_hw = config.max_phases == 1
        self.switched_single = self.single_phase_hw
        self._switch: tuple[bool, float] | None = None  # (to single phase, done at t_s)
        self._following_schedule = True
        self._commanded: tuple[SessionKey, CarScenario] | None = None
        self._commands = 0
        # Integration state, valid at the model's anchor time.
        self.session: SessionKey | None = None
        self.soc_pct: float | None = None
        self.session_wh = 0.0
        self.session_start_s = start_s
        self.detected_phases = 0
        index = noise.unit(seed, _SERIAL, sum(map(ord, config.name)))
        self.total_wh = round(200_000.0 + 3_000_000.0 * index, 1)
        self.sessions_total = int(100 + 900 * index)
        self.serial = f"ENE{int(index * 10_000_000):07d}"
        self.firmware = FIRMWARE_VERSION
        self.hardware = HARDWARE_VERSION
        self._update = FirmwareUpdate()
        self.writes: collections.deque[WriteRecord] = collections.deque(maxlen=2000)
        self.write_count = 0

    # --- the vehicle ---------------------------------------------------------------------------
    def plug(self, car: CarScenario | None = None) -> None:
        """A vehicle is plugged in now (the box's first scheduled car, or a 3-phase 16 A car)."""
        chosen = car or (self.config.cars[0] if self.config.cars else CarScenario())
        self._commands += 1
        self._following_schedule, self._commanded = False, (("command", self._commands), chosen)

    def unplug(self) -> None:
        """The vehicle is unplugged now and none comes until :meth:`plug` or :meth:`follow_schedule`."""
        self._following_schedule, self._commanded = False, None

    def follow_schedule(self) -> None:
        self._following_schedule, self._commanded = True, None

    def plugged(self, t_s: float) -> tuple[SessionKey, CarScenario] | None:
        if not self._following_schedule:
            return self._commanded
        local: dt.datetime | None = None
        for number, car in enumerate(self.config.cars):
            if isinstance(car.plug, dt.datetime):
                unplug_s = car.unplug.timestamp() if isinstance(car.unplug, dt.datetime) else None
                if car.plug.timestamp() <= t_s and (unplug_s is None or t_s < unplug_s):
                    return ("once", number), car
                continue
            local = local or dt.datetime.fromtimestamp(t_s, self.zone)
            now = local.time()
            if car.plug <= now and (car.unplug is None or now < car.unplug):  # type: ignore[operator]
                return ("daily", local.date().toordinal(), number), car
        return None

    # --- what the box does at t ----------------------------------------------------------------
    def _switch_state(self, t_s: float) -> tuple[bool, bool]:
        """(switched to single phase, switch under way) at ``t_s``."""
        switch = self._switch
        if switch is None:
            return self.switched_single, False
        if t_s >= switch[1]:
            return switch[0], False
        return self.switched_single, True

    def fallback_active(self, t_s: float) -> bool:
        return t_s - self.heartbeat_s > HEARTBEAT_TIMEOUT_S

    def _offered_a(self, t_s: float) -> float:
        maximum = self.config.max_current_a
        if self.locked:
            return 0.0
        if self.fallback_active(t_s) and self.fallback_setting != 0:
            return 0.0 if self.fallback_setting == 1 else min(float(self.fallback_setting), maximum)
        if not self.released:
            return 0.0
        if self.limit_a == 0.0:
            return maximum
        return min(self.limit_a, maximum) if self.limit_a >= MIN_CURRENT_A else 0.0

    def _soc(self, key: SessionKey, car: CarScenario) -> float:
        return self.soc_pct if key == self.session and self.soc_pct is not None else car.soc_pct

    def at(self, t_s: float) -> BoxNow:
        plugged = self.plugged(t_s)
        fallback = self.fallback_active(t_s)
        single, switching = self._switch_state(t_s)
        if plugged is None:
            return BoxNow(EVSE_IDLE, CP_A, None, None, None, 0.0, (0.0, 0.0, 0.0), 0, fallback, single, switching)
        key, car = plugged
        soc = self._soc(key, car)
        offered = 0.0 if switching else self._offered_a(t_s)

        def waiting(state: int, error: int = 0) -> BoxNow:
            cp = CP_B if state != EVSE_CHARGING else CP_C
            return BoxNow(state, cp, key, car, soc, offered, (0.0, 0.0, 0.0), error, fallback, single, switching)

        if offered < MIN_CURRENT_A:
            return waiting(EVSE_PRECONDITIONS)
        if car.min_current_a > offered + 1e-9:
            return waiting(EVSE_READY, reg.ERROR_EV_OUT_OF_DUTY_RANGE)
        if soc >= car.target_soc_pct:
            return waiting(EVSE_READY)
        phases = 1 if single or car.phases == 1 else 3
        current = min(offered, car.max_current_a)
        if car.max_power_w is not None:
            current = min(current, car.max_power_w / (NOMINAL_VOLTAGE_V * phases))
        taper_from = car.taper_from_soc_pct
        if taper_from is not None and soc > taper_from and car.target_soc_pct > taper_from:
            share = (car.target_soc_pct - soc) / (car.target_soc_pct - taper_from)
            current = max(current * share, TAPER_FLOOR_A)
        currents = (current, current, current) if phases == 3 else (current, 0.0, 0.0)
        return BoxNow(EVSE_CHARGING, CP_C, key, car, soc, offered, currents, 0, fallback, single, switching)

    def grid_currents_a(self, now: BoxNow) -> Phases:
        grid = [0.0, 0.0, 0.0]
        for box_phase, grid_phase in enumerate(ROTATIONS[self.config.rotation]):
            grid[grid_phase] += now.box_currents_a[box_phase]
        return (grid[0], grid[1], grid[2])

    def grid_power_w(self, now: BoxNow) -> Phases:
        currents = self.grid_currents_a(now)
        return (currents[0] * NOMINAL_VOLTAGE_V, currents[1] * NOMINAL_VOLTAGE_V, currents[2] * NOMINAL_VOLTAGE_V)

    def integrate(self, anchor_s: float, duration_s: float, now: BoxNow) -> None:
        """Move the session, SoC and counters on by ``duration_s`` at the power of ``now``."""
        if now.session != self.session:
            self.session = now.session
            self.session_wh = 0.0
            self.session_start_s = anchor_s
            self.detected_phases = 0
            self.soc_pct = now.car.soc_pct if now.car is not None else None
            if now.session is not None:
                self.sessions_total += 1
        energy_wh = now.power_w * duration_s / 3600.0
        self.session_wh += energy_wh
        self.total_wh += energy_wh
        self.detected_phases = max(self.detected_phases, now.phases_in_use)
        if now.car is not None and self.soc_pct is not None:
            self.soc_pct = min(100.0, self.soc_pct + energy_wh / now.car.capacity_wh * 100.0)
        switch = self._switch
        if switch is not None and anchor_s + duration_s >= switch[1]:
            self.switched_single, self._switch = switch[0], None

    def truth(self, t_s: float, now: BoxNow) -> WallboxTruth:
        grid = self.grid_currents_a(now)
        charged_wh = self.session_wh if now.session == self.session else 0.0
        return WallboxTruth(
            name=self.name,
            address=self.address,
            evse_state=now.evse_state,
            vehicle_connected=now.car is not None,
            charging=now.evse_state == EVSE_CHARGING,
            car=now.car.name if now.car is not None else None,
            soc_pct=now.soc_pct,
            offered_a=now.offered_a,
            current_limit_a=self.limit_a,
            released=self.released,
            requested_single_phase=self.requested_single,
            switched_single_phase=now.switched_single,
            switching=now.switching,
            fallback_active=now.fallback_active,
            error_code=now.error_code,
            phases=now.phases_in_use,
            box_currents_a=now.box_currents_a,
            grid_currents_a=grid,
            power_w=now.power_w,
            session_energy_wh=charged_wh,
            heartbeat_age_s=t_s - self.heartbeat_s,
            writes=self.write_count,
        )

    # --- registers -----------------------------------------------------------------------------
    def image(self, t_s: float, now: BoxNow, voltages_v: Phases) -> dict[int, int]:
        charging = now.evse_state == EVSE_CHARGING
        state = reg.BoxState(
            evse_state=now.evse_state,
            cp_state=now.cp_state,
            signaled_current_a=now.offered_a,
            current_limit_a=self.limit_a,
            max_current_house_a=self.config.max_current_a,
            max_current_evse_a=WALLBOX_LIMITS[self.config.type][1],
            phase_options=0 if self.single_phase_hw else 2,
            fallback_current_setting=self.fallback_setting,
            grid_phases_connected=0 if self.single_phase_hw else 2,
            phase_currents_a=now.box_currents_a,
            phase_voltages_v=voltages_v,
            phase_powers_w=(
                now.box_currents_a[0] * voltages_v[0],
                now.box_currents_a[1] * voltages_v[1],
                now.box_currents_a[2] * voltages_v[2],
            ),
            power_w=sum(c * v for c, v in zip(now.box_currents_a, voltages_v, strict=True)),
            session_energy_wh=self.session_wh if now.session == self.session else 0.0,
            session_duration_s=int(t_s - self.session_start_s) if now.session is not None else 0,
            detected_vehicle_phases=max(self.detected_phases, now.phases_in_use) if charging else self.detected_phases,
            requested_phases=int(self.requested_single),
            released=self.released,
            locked=self.locked,
            error_code=now.error_code,
            fallback_active=now.fallback_active,
            switched_phases=int(now.switched_single),
            total_energy_wh=self.total_wh,
            sessions_total=self.sessions_total,
        )
        image = reg.encode_state(state)
        image[reg.LAYOUT_VERSION] = LAYOUT_VERSION
        for offset, word in enumerate(reg.encode_text(self.firmware, reg.FIRMWARE_REGISTERS)):
            image[reg.FIRMWARE_VERSION + offset] = word
        for offset, word in enumerate(reg.encode_text(self.serial, reg.SERIAL_REGISTERS)):
            image[reg.SERIAL_NUMBER + offset] = word
        image[reg.CABLE_LOCK] = 3  # a fixed cable
        image[reg.SOLAR_CHARGING_MODE] = self.solar_mode
        image[reg.FALLBACK_CURRENT_SETTING] = self.fallback_setting
        image[reg.TEMPERATURE], image[reg.TEMPERATURE + 1] = reg.encode_float(25.0 + 0.5 * now.phases_in_use)
        update = self._update
        image[reg.MODBUS_ADDRESS] = self.address
        image[reg.HARDWARE_VERSION] = self.hardware
        image[reg.FIRMWARE_UPDATE_STATUS] = update.status
        image[reg.FIRMWARE_SIZE], image[reg.FIRMWARE_SIZE + 1] = reg.encode_u32(update.size)
        image[reg.FIRMWARE_RECEIVED], image[reg.FIRMWARE_RECEIVED + 1] = reg.encode_u32(len(update.data))
        image[reg.FIRMWARE_CRC32], image[reg.FIRMWARE_CRC32 + 1] = reg.encode_u32(update.crc32)
        return image

    def write(self, t_s: float, address: int, words: Sequence[int]) -> None:
        """Apply a write at ``t_s``; :class:`ModbusReply` for one the box refuses."""
        self._settle_switch(t_s)
        if address == reg.FIRMWARE_CHUNK:
            self._firmware_chunk(words)
        elif address in (reg.CHARGING_CURRENT_EM, reg.FIRMWARE_SIZE, reg.FIRMWARE_CRC32):
            if len(words) != 2:
                raise ModbusReply(ILLEGAL_ADDRESS, f"0x{address:04X} takes two registers")
            self._write_double(t_s, address, words)
        else:
            for offset, word in enumerate(words):
                self._write_single(t_s, address + offset, word)
        self.write_count += 1
        self.writes.append(WriteRecord(t_s, time.time(), address, tuple(words)))

    def _settle_switch(self, t_s: float) -> None:
        switch = self._switch
        if switch is not None and t_s >= switch[1]:
            self.switched_single, self._switch = switch[0], None

    def _write_double(self, t_s: float, address: int, words: Sequence[int]) -> None:
        if address == reg.CHARGING_CURRENT_EM:
            value = reg.decode_float(words)
            if not (value == value and 0.0 <= value <= 80.0):  # NaN is not equal to itself
                raise ModbusReply(ILLEGAL_VALUE, f"charging current {value!r} A is outside 0..80")
            self.limit_a = float(value)
        elif address == reg.FIRMWARE_SIZE:
            size = reg.decode_u32(words)
            if not 0 < size <= reg.MAX_FIRMWARE_BYTES:
                raise ModbusReply(ILLEGAL_VALUE, f"firmware size {size} is outside 1..{reg.MAX_FIRMWARE_BYTES}")
            self._update.size = size
        else:
            self._update.crc32 = reg.decode_u32(words)

    def _write_single(self, t_s: float, address: int, word: int) -> None:
        plugged = self.plugged(t_s) is not None
        if address == reg.HEARTBEAT:
            if word != reg.HEARTBEAT_VALUE:
                raise ModbusReply(ILLEGAL_VALUE, f"heartbeat must be 0x55AA, got 0x{word:04X}")
            self.heartbeat_s = t_s
        elif address == reg.CHARGING_RELEASE:
            self.released = bool(_flag(word, "charging release"))
        elif address == reg.REQUESTED_PHASES:
            single = bool(_flag(word, "requested phases"))
            if self.single_phase_hw:
                return  # no phase switch in this box: the write is ignored, as documented
            self.requested_single = single
            target, _ = self._switch if self._switch is not None else (self.switched_single, 0.0)
            if single == self.switched_single:
                self._switch = None
            elif single != target:
                self._switch = (single, t_s + self.config.phase_switch_s)
        elif address == reg.LOCK_EVSE:
            self.locked = bool(_flag(word, "lock"))
        elif address == reg.SOLAR_CHARGING_MODE:
            if word > 3:
                raise ModbusReply(ILLEGAL_VALUE, f"solar charging mode {word} is outside 0..3")
            self.solar_mode = word
        elif address == reg.FALLBACK_CURRENT_SETTING:
            if not (word in (0, 1) or 6 <= word <= 32):
                raise ModbusReply(ILLEGAL_VALUE, f"fallback current {word} is not 0, 1 or 6..32")
            self.fallback_setting = word
        elif address == reg.SYSTEM_RESTART:
            if word != reg.RESTART_VALUE:
                raise ModbusReply(ILLEGAL_VALUE, f"restart needs 0xBB, got 0x{word:04X}")
            if plugged:
                raise ModbusReply(DEVICE_BUSY, "restart only while idle")
            self._restart()
        elif address == reg.MODBUS_ADDRESS:
            if not reg.MIN_ADDRESS <= word <= reg.MAX_ADDRESS:
                raise ModbusReply(ILLEGAL_VALUE, f"address {word} is outside 1..247")
            if plugged:
                raise ModbusReply(DEVICE_BUSY, "the address changes only while no vehicle is plugged in")
            self.address = word
        elif address == reg.FIRMWARE_UPDATE_CONTROL:
            self._firmware_control(t_s, word, plugged)
        else:
            raise ModbusReply(ILLEGAL_ADDRESS, f"register 0x{address:04X} takes no write")

    def _restart(self) -> None:
        """What a restart forgets: everything the manager wrote."""
        self.released, self.limit_a, self.locked = False, 0.0, False
        self.requested_single, self._switch = self.single_phase_hw, None
        self.switched_single = self.single_phase_hw

    def _firmware_control(self, t_s: float, word: int, plugged: bool) -> None:
        update = self._update
        if word == reg.FW_ABORT:
            self._update = FirmwareUpdate()
        elif word == reg.FW_BEGIN:
            if self.at(t_s).evse_state == EVSE_CHARGING:
                raise ModbusReply(DEVICE_BUSY, "no firmware update while charging")
            if update.size <= 0:
                raise ModbusReply(ILLEGAL_VALUE, "write the image size before 'begin'")
            self._update = FirmwareUpdate(status=reg.FW_RECEIVING, size=update.size)
        elif word == reg.FW_COMMIT:
            if update.status != reg.FW_RECEIVING:
                raise ModbusReply(ILLEGAL_VALUE, "no update under way")
            self.firmware = committed_version(update)
            update.status, update.data = reg.FW_INSTALLED, bytearray()
            self._restart()
        else:
            raise ModbusReply(ILLEGAL_VALUE, f"firmware control {word} is not 0, 1 or 2")

    def _firmware_chunk(self, words: Sequence[int]) -> None:
        add_chunk(self._update, words)


def _flag(word: int, name: str) -> int:
    if word not in (0, 1):
        raise ModbusReply(ILLEGAL_VALUE, f"{name} must be 0 or 1, got {word}")
    return word


_SERIAL = noise.channel_id("wallbox.serial")
