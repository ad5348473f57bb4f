"""Driver for the KOSTAL ENECTOR AC 3.7/11 and AC 7.4 (MENNEKES AMTRON Compact 2.0s) on Modbus RTU.

The line is a serial device (``/dev/ttyUSB0``, a pty in tests) or an RTU-over-TCP serial server
as a pyserial URL (``socket://host:port``), with the settings of ``WallboxConfig.serial``
(the box's own: 57600 baud 8N2, :func:`wallbox.registers.enector_line`).

:class:`EnectorWallbox` is the cycle's ``Device[WallboxReading]``:

* ``read()``: seven FC03 requests (:data:`wallbox.registers.STATE_BLOCKS`); serial number and
  firmware once per connection. Every value is checked against its range; a damaged or
  implausible answer is a :class:`EnectorError`, never a reading.
* ``read_live()`` (the sub-second guard pass): only the two blocks that change by themselves
  (:data:`wallbox.registers.LIVE_BLOCKS`: EVSE state, currents, powers), the rest as the last
  full read found it.
* ``write(setpoints)`` (called every cycle): the heartbeat 0x55AA at least every
  :data:`HEARTBEAT_INTERVAL_S` (the box falls back after 10 s without one);
  ``CHARGING_CURRENT_A`` >= 6 A writes the current limit (float32, FC16 at 0x0302; capped at
  the box's maximum) and then the release; below 6 A (0 = pause) withdraws the release and
  leaves the limit alone (0 there would mean "no limit"); ``CHARGING_PHASES`` 1 or 3 is
  requested only while the box is not released: a released box is paused first, the
  requested phases go out in the next cycle once the read shows it paused, and the release
  follows. A write that would not change what the box holds is skipped; everything is
  written again after a reconnect, when the box shows it lost a value (a restart), and at
  least every :data:`REFRESH_INTERVAL_S`. No current setpoint: the release and limit stay
  as they are (the heartbeat still goes out).

Setup functions, each on a connection of its own (``serial`` is a ``SerialConfig``):
:func:`move_address` (50 -> 100 on setup; refused with :class:`VehiclePluggedIn` while a
vehicle is plugged in), :func:`restore_factory_address` (back to 50 on delete),
:func:`read_info` (serial, firmware, hardware) and :func:`update_firmware`. The address and the
firmware update use the vendor block this product defines (:mod:`wallbox.registers`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from energy.config import CHARGING_CURRENT_A, CHARGING_PHASES, MAX_TIMEOUT_S, SerialConfig, WallboxConfig
from energy.devices import EVSE_CHARGING, DeviceError, WallboxReading
from energy.state import Setpoint
from rtubus.bus import BusError, RtuBus, acquire_bus
from rtubus.guard import Failure, modbus_failure
from wallbox import registers as reg

log = logging.getLogger(__name__)

# The box falls back after 10 s without a heartbeat; one cycle late must still be in time.
HEARTBEAT_INTERVAL_S = 4.0
REFRESH_INTERVAL_S = 60.0
MIN_CURRENT_A = 6.0
# Current changes smaller than this are not worth a transaction (the limit is a float in A).
CURRENT_DEADBAND_A = 0.05
DEADLINE_TIMEOUTS = 3
SETUP_TIMEOUT_S = 1.0
# What states mean "a vehicle is plugged in" (B1 .. C2).
PLUGGED_STATES = frozenset({2, 3, 4, 5})
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    6: "device busy",
}
T = TypeVar("T")


class EnectorError(DeviceError):
    """The wallbox could not be read or written; the message says why."""


class VehiclePluggedIn(EnectorError):
    """The box refuses the change while a vehicle is plugged in: try again once it is unplugged."""


class NoVendorBlock(EnectorError):
    """The box has no register for its address or for a firmware update: a real ENECTOR/AMTRON.

    The public register map has neither (the vendor block is this product's, implemented by the
    simulated box); the product does not pretend: the caller says so and what to do instead.
    """


class ModbusExceptionReply(EnectorError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True, kw_only=True)
class WallboxInfo:
    """What a box says about itself."""

    address: int
    serial: str
    firmware: str
    hardware: str  # "0003"
    layout_version: str  # Modbus register layout, "1.0.3"


# --- the connection ------------------------------------------------------------------------------
class BoxLine:
    """One address on an RS485 line, through the line's one owner (:mod:`rtubus.bus`); errors become
    EnectorErrors. The bus is taken on first use (inside the event loop that uses it) and given
    back by :meth:`close`."""

    def __init__(self, serial: SerialConfig, address: int, timeout_s: float) -> None:
        if not serial.port:
            raise EnectorError("no RS485 interface is configured for this wallbox")
        if not reg.MIN_ADDRESS <= address <= reg.MAX_ADDRESS:
            raise EnectorError(f"address {address} is outside 1..247")
        self.where = f"{serial.port} address {address}"
        self.address = address
        self.timeout_s = min(timeout_s, MAX_TIMEOUT_S)
        self.serial = serial
        self._bus: RtuBus | None = None

    @property
    def bus(self) -> RtuBus:
        if self._bus is None:
            try:
                self._bus = acquire_bus(self.serial)
            except BusError as exc:
                raise EnectorError(str(exc)) from None
        return self._bus

    @property
    def connected(self) -> bool:
        return self._bus is not None and self._bus.connected

    async def read(self, start: int, count: int) -> list[int]:
        response = await self.bus.transaction(
            self.timeout_s, lambda client: client.read_holding_registers(start, count=count, device_id=self.address)
        )
        if response.isError():
            raise _exception(response, self.where, f"reading 0x{start:04X}-0x{start + count - 1:04X}")
        words = list(response.registers)
        if len(words) != count:
            raise EnectorError(f"{self.where} answered {len(words)} registers for {count} at 0x{start:04X}")
        return words

    async def write_one(self, address: int, word: int) -> None:
        response = await self.bus.transaction(
            self.timeout_s, lambda client: client.write_register(address, word, device_id=self.address)
        )
        if response.isError():
            raise _exception(response, self.where, f"writing {word} to 0x{address:04X}")

    async def write_many(self, address: int, words: list[int]) -> None:
        response = await self.bus.transaction(
            self.timeout_s, lambda client: client.write_registers(address, words, device_id=self.address)
        )
        if response.isError():
            raise _exception(response, self.where, f"writing {len(words)} registers at 0x{address:04X}")

    def close(self) -> None:
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.release()

    async def guard(self, call: Callable[[], Coroutine[Any, Any, T]], deadline_s: float) -> T:
        """Run ``call`` within ``deadline_s``; every failure is an EnectorError naming the line
        and address. The line stays open for the other devices on it."""
        try:
            async with asyncio.timeout(deadline_s):  # in this task: no task of its own per call
                return await call()
        except EnectorError:
            raise
        except Exception as exc:
            failure = modbus_failure(exc)
            if failure is Failure.NO_ANSWER:
                if self._bus is not None and not self._bus.connected:
                    self.close()
                    raise EnectorError(f"connection to {self.where} lost") from None
                raise EnectorError(f"no answer from {self.where} within {self.timeout_s:g} s") from None
            if failure in (Failure.LOST, Failure.FAILED):
                self.close()
                raise EnectorError(f"connection to {self.where} lost ({exc})") from None
            if failure is Failure.MODBUS:
                raise EnectorError(f"Modbus error from {self.where}: {exc}") from None
            if failure is Failure.GARBLED:  # a garbled answer pymodbus could not decode
                raise EnectorError(f"garbled answer from {self.where}: {exc}") from None
            raise


def _exception(response: Any, where: str, doing: str) -> EnectorError:
    code = getattr(response, "exception_code", None)
    if code is None:
        return EnectorError(f"{where} answered with an error {doing}")
    return ModbusExceptionReply(
        code, f"{where} answered Modbus exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')}) {doing}"
    )


# --- the cycle's device ---------------------------------------------------------------------------
class EnectorWallbox:
    """An ENECTOR in the cycle (``Device[WallboxReading]``); it connects on its first call."""

    def __init__(self, config: WallboxConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        if config.serial is None:
            raise EnectorError(f"wallbox {config.name!r} has no RS485 interface")
        self.config = config
        self._clock = clock
        self._line = BoxLine(config.serial, config.address, config.timeout_s)
        self._state: reg.BoxState | None = None
        self._identity: tuple[str, str] | None = None  # (serial, firmware) of the connected box
        self._written: dict[int, tuple[float, float]] = {}  # register: (value, at_s)
        self._heartbeat_s: float | None = None
        self._image: dict[int, int] | None = None  # the registers of the last full read

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def deadline_s(self) -> float:
        return self._line.timeout_s * DEADLINE_TIMEOUTS

    async def read(self) -> WallboxReading:
        return await self._line.guard(self._read, self.deadline_s)

    async def read_live(self) -> WallboxReading:
        """Only the values that change by themselves between two cycles (EVSE state, currents,
        power: :data:`wallbox.registers.LIVE_BLOCKS`), the others as the last full read found
        them; a full read when there was none on this connection (the guard pass's read)."""
        return await self._line.guard(self._read_live, self.deadline_s)

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        await self._line.guard(lambda: self._write(setpoints), self.deadline_s)

    def close(self) -> None:
        self._line.close()
        self._identity = None
        self._image = None
        self._written.clear()
        self._heartbeat_s = None

    # --- read ------------------------------------------------------------------------------------
    async def _read(self) -> WallboxReading:
        image: dict[int, int] = {}
        for start, count in reg.STATE_BLOCKS:
            image.update(zip(range(start, start + count), await self._line.read(start, count), strict=True))
        if self._identity is None:
            words = await self._line.read(reg.SERIAL_NUMBER, reg.SERIAL_REGISTERS)
            firmware = await self._line.read(reg.FIRMWARE_VERSION, reg.FIRMWARE_REGISTERS)
            self._identity = (reg.decode_text(words), reg.decode_text(firmware))
        try:
            state = reg.decode_state(image)
        except reg.ImplausibleValue as exc:
            raise EnectorError(f"implausible answer from {self._line.where}: {exc}") from None
        self._forget_lost_values(state)
        self._state = state
        self._image = image
        return reading_from_state(state, self.config, self._identity)

    async def _read_live(self) -> WallboxReading:
        if self._image is None:
            return await self._read()
        image = dict(self._image)
        for start, count in reg.LIVE_BLOCKS:
            image.update(zip(range(start, start + count), await self._line.read(start, count), strict=True))
        try:
            state = reg.decode_state(image)
        except reg.ImplausibleValue as exc:
            raise EnectorError(f"implausible answer from {self._line.where}: {exc}") from None
        return reading_from_state(state, self.config, self._identity)

    def _forget_lost_values(self, state: reg.BoxState) -> None:
        """A box that restarted holds its defaults again: write ours once more."""
        defaults = {
            reg.CHARGING_RELEASE: float(state.released),
            reg.CHARGING_CURRENT_EM: state.current_limit_a,
            reg.REQUESTED_PHASES: float(state.requested_phases),
        }
        for register, held in defaults.items():
            written = self._written.get(register)
            if written is not None and held == 0.0 and written[0] != 0.0:
                del self._written[register]

    # --- write -----------------------------------------------------------------------------------
    async def _write(self, setpoints: Sequence[Setpoint]) -> None:
        now_s = self._clock()
        if self._heartbeat_s is None or now_s - self._heartbeat_s >= HEARTBEAT_INTERVAL_S:
            await self._line.write_one(reg.HEARTBEAT, reg.HEARTBEAT_VALUE)
            self._heartbeat_s = now_s
        wanted = {s.quantity: float(s.value) for s in setpoints if s.quantity in (CHARGING_CURRENT_A, CHARGING_PHASES)}
        for quantity, value in wanted.items():
            if not math.isfinite(value):
                raise EnectorError(f"setpoint {quantity} = {value!r} is not a number")
        state = self._state
        switchable = state is not None and state.phase_options == 2
        if CHARGING_PHASES in wanted and state is not None and switchable:
            single = round(wanted[CHARGING_PHASES]) == 1
            if not await self._switch_phases(state, single, now_s):
                return  # paused for the switch; the rest follows once the box is paused
        if CHARGING_CURRENT_A in wanted:
            current_a = wanted[CHARGING_CURRENT_A]
            if current_a >= MIN_CURRENT_A:
                maximum_a = self.config.max_current_a
                if state is not None and state.max_current_house_a >= MIN_CURRENT_A:
                    maximum_a = min(maximum_a, state.max_current_house_a)
                limit_a = round(min(current_a, maximum_a), 2)
                await self._set(reg.CHARGING_CURRENT_EM, limit_a, now_s, CURRENT_DEADBAND_A)
                await self._set(reg.CHARGING_RELEASE, 1.0, now_s)
            else:
                await self._set(reg.CHARGING_RELEASE, 0.0, now_s)

    async def _switch_phases(self, state: reg.BoxState, single: bool, now_s: float) -> bool:
        """Request 1 or all phases; ``False`` while the box first has to pause for it."""
        if bool(state.requested_phases) == single:
            return True
        if state.released or state.evse_state == EVSE_CHARGING:
            await self._set(reg.CHARGING_RELEASE, 0.0, now_s)
            return False
        await self._set(reg.REQUESTED_PHASES, float(single), now_s)
        return True

    async def _set(self, register: int, value: float, now_s: float, deadband: float = 0.0) -> None:
        written = self._written.get(register)
        if written is not None and now_s - written[1] < REFRESH_INTERVAL_S and abs(written[0] - value) <= deadband:
            return
        self._written.pop(register, None)  # if the write fails, the next cycle tries again
        if register == reg.CHARGING_CURRENT_EM:
            await self._line.write_many(register, reg.encode_float(value))
        else:
            await self._line.write_one(register, int(value))
        self._written[register] = (value, now_s)


def reading_from_state(
    state: reg.BoxState, config: WallboxConfig, identity: tuple[str, str] | None = None
) -> WallboxReading:
    """What the cycle gets from the box's registers."""
    maxima = [a for a in (state.max_current_house_a, state.max_current_evse_a) if a >= MIN_CURRENT_A]
    single = state.switched_phases == 1 or state.grid_phases_connected == 0 or config.max_phases == 1
    serial, firmware = identity or ("", "")
    return WallboxReading(
        evse_state=state.evse_state,
        vehicle_connected=state.evse_state in PLUGGED_STATES,
        charging=state.evse_state == EVSE_CHARGING,
        error_code=state.error_code,
        phase_currents_a=state.phase_currents_a,
        power_w=state.power_w,
        current_limit_a=state.current_limit_a if state.released else 0.0,
        released=state.released,
        max_current_a=min([config.max_current_a, *maxima]),
        phase_options=state.phase_options,
        switched_phases=1 if single else 3,
        detected_vehicle_phases=state.detected_vehicle_phases or None,
        session_energy_wh=state.session_energy_wh,
        session_duration_s=float(state.session_duration_s),
        total_energy_wh=state.total_energy_wh,
        fallback_active=state.fallback_active,
        serial=serial,
        firmware=firmware,
    )


def connect_wallbox(config: WallboxConfig, *, clock: Callable[[], float] = time.monotonic) -> EnectorWallbox:
    """The driver for this box (it connects on its first call).

    ``clock`` (seconds, monotonic) times the heartbeat and refreshes; a stepped replay passes
    its simulated clock so the heartbeat follows simulated time, as the simulated box does.
    """
    return EnectorWallbox(config, clock=clock)


__all__ = [
    "EnectorError",
    "EnectorWallbox",
    "NoVendorBlock",
    "VehiclePluggedIn",
    "WallboxInfo",
    "connect_wallbox",
    "reading_from_state",
]
