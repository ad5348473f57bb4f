"""What every inverter driver shares: the connection, the error messages, and when to write.

One persistent connection per inverter over Modbus TCP, owned by the device event loop; on an
RS485 line (``config.serial`` set) every request is one transaction on the line's one bus
(:mod:`rtubus.bus`), shared with whatever else hangs on that line (wallboxes, the SDM630, other
inverters), with this inverter's timeout. Every failure becomes an :class:`InverterError` with a
message for people; the connection is closed (the line given back) then, and the next call
reconnects. A whole read, write or identify is bounded by a few timeouts, so one slow
inverter never holds up the cycle for longer than that.

Writes follow the watchdog of the inverter: a setpoint is written when its value changes and
re-written at least every :data:`REFRESH_INTERVAL_S`; a quantity without a setpoint this cycle
is released once (limit back to 100 %, battery handed back) if the product had set it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pymodbus.client import AsyncModbusTcpClient

from energy.config import ACTIVE_POWER_LIMIT_PCT, BATTERY_POWER_W, MAX_TIMEOUT_S, InverterConfig
from energy.devices import DeviceError, WireWatch
from energy.state import Setpoint
from rtubus.bus import BusError, PortUnavailable, RtuBus, acquire_bus
from rtubus.guard import guarded_modbus
from rtubus.lean import tcp_client

log = logging.getLogger(__name__)

LIMIT_PCT = ACTIVE_POWER_LIMIT_PCT
BATTERY_W = BATTERY_POWER_W
# A read, write or identify is a handful of requests; together they get this many timeouts.
DEADLINE_TIMEOUTS = 3
# The inverters fall back after 30 s without a write; refresh well within that.
REFRESH_INTERVAL_S = 10.0
# A new value closer than this to the one written is not worth a Modbus transaction: 0.1 % of
# an inverter's power, 10 W of a battery's (the refresh still writes it within 10 s).
WRITE_DEADBAND = {ACTIVE_POWER_LIMIT_PCT: 0.1, BATTERY_POWER_W: 10.0}
# Asked of SunSpec inverters: revert a written control after this long without a refresh.
REVERT_TIMEOUT_S = 30

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target did not respond",
}
T = TypeVar("T")


class InverterError(DeviceError):
    """The inverter could not be read or written; the message says why."""


@dataclass(slots=True)
class _Written:
    value: float
    at_s: float


class ModbusInverter:
    """Base of the drivers: subclasses implement ``_read``, ``_identify``, ``_apply`` and ``_release``."""

    quantities: tuple[str, ...] = (LIMIT_PCT, BATTERY_W)

    def __init__(self, config: InverterConfig, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.timeout_s = min(config.timeout_s, MAX_TIMEOUT_S)
        self._clock = clock
        self._written: dict[str, _Written] = {}
        self._watch = WireWatch()
        self._serial = config.serial
        self._bus: RtuBus | None = None  # on RS485: the line's bus, taken on first use
        self._client: AsyncModbusTcpClient | None = None
        if self._serial is not None:
            self.where = self._serial.port
        else:
            self.where = f"{config.host}:{config.port}"
            self._client = tcp_client(config.host, config.port, self.timeout_s, self._watch)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def deadline_s(self) -> float:
        return self.timeout_s * DEADLINE_TIMEOUTS

    # --- the Device protocol -----------------------------------------------------------------
    async def read(self) -> Any:
        return await self._guard(self._read)

    async def write(self, setpoints: Sequence[Setpoint]) -> None:
        if not self.config.controllable:
            return  # monitored only (PIKO CI): its limit is set in the inverter itself
        await self._guard(lambda: self._write(setpoints))

    async def identify(self) -> Any:
        return await self._guard(self._identify)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        bus, self._bus = self._bus, None
        if bus is not None:
            bus.release()  # the line stays open for the other devices on it
        self._on_disconnect()

    @property
    def connected(self) -> bool:
        if self._client is not None:
            return bool(self._client.connected)
        return self._bus is not None and self._bus.connected

    # --- for subclasses ------------------------------------------------------------------------
    async def _read(self) -> Any:
        raise NotImplementedError

    async def _identify(self) -> Any:
        raise NotImplementedError

    async def _apply(self, quantity: str, value: float) -> None:
        """Write a setpoint to the inverter."""
        raise NotImplementedError

    async def _release(self, quantity: str) -> None:
        """Hand a quantity back to the inverter (limit 100 %, battery to its own control)."""
        raise NotImplementedError

    def _normalise(self, quantity: str, value: float) -> float | None:
        """The value as the inverter will get it; ``None``: this inverter takes no such setpoint."""
        return value

    def _on_disconnect(self) -> None:
        """Forget what was learnt about the connected device."""

    async def _request(self, call: Callable[[Any], Awaitable[T]]) -> T:
        """One request and its answer: on the TCP connection, or as one transaction on the line."""
        if self._serial is None:
            assert self._client is not None
            if not self._client.connected and not await self._client.connect():
                raise InverterError(f"cannot connect to {self.where}")
            return await call(self._client)
        if self._bus is None:
            try:
                self._bus = acquire_bus(self._serial)
            except BusError as exc:
                raise InverterError(str(exc)) from None
        try:
            return await self._bus.transaction(self.timeout_s, call, watch=self._watch)
        except PortUnavailable:
            raise InverterError(f"cannot connect to {self.where}") from None

    async def _read_registers(self, start: int, count: int) -> list[int]:
        unit = self.config.unit_id
        response = await self._request(lambda client: client.read_holding_registers(start, count=count, device_id=unit))
        if response.isError():
            raise InverterError(self._exception_text(response, f"reading {start}-{start + count - 1}"))
        words = list(response.registers)
        if len(words) != count:
            raise InverterError(f"answered {len(words)} registers for {count} at {start}")
        return words

    async def _write_register(self, address: int, word: int) -> None:
        """FC06: KOSTAL's 533 and SunSpec's model 123 take nothing else."""
        unit = self.config.unit_id
        response = await self._request(lambda client: client.write_register(address, word, device_id=unit))
        if response.isError():
            raise InverterError(self._exception_text(response, f"writing {word} to {address}"))

    async def _write_registers(self, address: int, words: list[int]) -> None:
        """FC16."""
        unit = self.config.unit_id
        response = await self._request(lambda client: client.write_registers(address, words, device_id=unit))
        if response.isError():
            raise InverterError(self._exception_text(response, f"writing {len(words)} registers at {address}"))

    @staticmethod
    def _exception_text(response: Any, doing: str) -> str:
        code = getattr(response, "exception_code", None)
        if code is None:
            return f"answered with an error {doing}"
        return f"answered Modbus exception {code} ({EXCEPTION_NAMES.get(code, 'unknown')}) {doing}"

    # --- internals -----------------------------------------------------------------------------
    async def _guard(self, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The call bounded by the deadline; every failure, pymodbus' own or a decode error on a
        garbled answer (:func:`energy.devices.guarded`), becomes an ``InverterError`` and closes
        the connection, so the next call reconnects."""
        connected: list[bool] = []

        def close() -> None:
            connected.append(self.connected)
            self.close()

        # A request cut short by the peer closing the connection ends the same way as one that
        # timed out; the state of the connection tells them apart.
        return await guarded_modbus(
            call(),
            timeout_s=self.timeout_s,
            deadline_s=self.deadline_s,
            where=self.where,
            watch=self._watch,
            error=InverterError,
            on_failure=close,
            lost=lambda: bool(connected) and not connected[0] and not self._watch.received,
        )

    async def _write(self, setpoints: Sequence[Setpoint]) -> None:
        wanted = {s.quantity: float(s.value) for s in setpoints if s.quantity in self.quantities}
        now_s = self._clock()
        for quantity in self.quantities:
            written = self._written.get(quantity)
            if quantity in wanted:
                value = self._normalise(quantity, wanted[quantity])
                if value is None:
                    continue
                if (
                    written is None
                    or now_s - written.at_s >= REFRESH_INTERVAL_S
                    or abs(written.value - value) >= WRITE_DEADBAND.get(quantity, 0.0)
                ):
                    # Forget first: if the write fails, the next cycle writes again.
                    self._written.pop(quantity, None)
                    await self._apply(quantity, value)
                    self._written[quantity] = _Written(value, now_s)
            elif written is not None:
                await self._release(quantity)
                del self._written[quantity]


def firmware_number(version: str) -> int:
    """'02.15.19' -> 215, '3.7.1' -> 307: major * 100 + minor, as DeviceInfo keeps it."""
    parts = [int(p) for p in version.replace("-", ".").split(".") if p.strip().isdigit()]
    if not parts:
        return 0
    return parts[0] * 100 + (parts[1] if len(parts) > 1 else 0)
