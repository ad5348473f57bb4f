"""Driver for PLENTICORE plus, PLENTICORE BI and PIKO IQ: KOSTAL's own Modbus map.

Reads per cycle (at most three requests, see :mod:`inverters.registers`): 100-211 (DC power,
frequency, AC power, battery SoC), 514-582 (limit in force 533, battery power 582) and, with a
battery, 1034-1081 (battery management mode 1080). Register 5 (word order) is read once per
connection, so an inverter switched to ABCD works too.

Writes: the active-power limit to 533 (FC06, whole percent 1-100: the inverter refuses 0, so a
request for 0 % becomes 1 %); the battery setpoint to 1034 (FC16, float, the inverter counts
charging negative) and only when 1080 = 2 ("external via Modbus", set in the inverter's menu);
otherwise the inverter would ignore it, and the driver does not write. Releasing the battery
writes 0 W once and stops refreshing, so the inverter's watchdog hands it back to its own
self-consumption control.
"""

from __future__ import annotations

import math

from energy.devices import InverterReading
from energy.state import DeviceInfo
from inverters import registers
from inverters.drivers.modbus import LIMIT_PCT, InverterError, ModbusInverter, firmware_number, log


class PlenticoreInverter(ModbusInverter):
    _word_order: str | None = None
    _battery_mode: int | None = None
    _warned_mode = False

    def _on_disconnect(self) -> None:
        self._word_order = None

    async def _block(self, block: tuple[int, int]) -> dict[int, int]:
        start, count = block
        return registers.blocks_to_image({start: await self._read_registers(start, count)})

    async def _order(self) -> str:
        if self._word_order is None:
            (raw,) = await self._read_registers(5, 1)
            self._word_order = registers.WORD_ORDER_ABCD if raw == 1 else registers.WORD_ORDER_CDAB
        return self._word_order

    async def _read(self) -> InverterReading:
        order = await self._order()
        image = await self._block(registers.MEASURE_BLOCK)
        image |= await self._block(registers.CONTROL_BLOCK)
        has_battery = self.config.battery is not None
        if has_battery:
            image |= await self._block(registers.BATTERY_BLOCK)
        names = ["dc_power", "ac_power", "battery_soc", "active_power_setpoint", "battery_power"]
        if has_battery:
            names.append("battery_mode")
        values = registers.decode(image, names, order)
        ac_w, pv_w = float(values["ac_power"]), float(values["dc_power"])
        for label, value in (("AC power", ac_w), ("DC power", pv_w)):
            if not math.isfinite(value) or abs(value) > 10 * self.config.max_ac_w + 10_000:
                raise InverterError(f"implausible {label} {value:.6g} W")
        limit = float(values["active_power_setpoint"])
        if has_battery:
            self._battery_mode = int(values["battery_mode"])
        return InverterReading(
            ac_power_w=ac_w,
            pv_power_w=pv_w,
            limit_pct=limit if 0 < limit <= 100 else None,
            # 582 counts charging negative; the product positive.
            battery_power_w=-float(values["battery_power"]) if has_battery else None,
            battery_soc_pct=float(values["battery_soc"]) if has_battery else None,
        )

    async def _identify(self) -> DeviceInfo:
        order = await self._order()
        image: dict[int, int] = {}
        for block in registers.IDENTITY_BLOCKS:
            image |= await self._block(block)
        values = registers.decode(
            image,
            ["article_number", "serial_number", "hardware_version", "software_version", "product_name", "power_class"],
            order,
        )
        product = " ".join(str(values[n]) for n in ("product_name", "power_class") if values[n])
        return DeviceInfo(
            vendor="KOSTAL",
            product=product,
            serial=str(values["serial_number"]),
            hardware=f"0x{int(values['hardware_version']):04X}" if values["hardware_version"] else "",
            firmware_version=firmware_number(str(values["software_version"])),
        )

    def _normalise(self, quantity: str, value: float) -> float | None:
        if quantity == LIMIT_PCT:
            return float(min(100, max(1, round(value))))
        if self.config.battery is None:
            return None
        return float(round(value))

    async def _apply(self, quantity: str, value: float) -> None:
        if quantity == LIMIT_PCT:
            await self._write_register(533, int(value))
            return
        if not await self._battery_writable():
            return
        register = registers.BY_NAME["battery_setpoint"]
        await self._write_registers(register.address, registers.encode_value(register, -value, await self._order()))

    async def _release(self, quantity: str) -> None:
        if quantity == LIMIT_PCT:
            await self._write_register(533, 100)
        elif await self._battery_writable():
            register = registers.BY_NAME["battery_setpoint"]
            await self._write_registers(register.address, registers.encode_value(register, 0.0, await self._order()))

    async def _battery_writable(self) -> bool:
        if self._battery_mode is None:
            (self._battery_mode,) = await self._read_registers(registers.BY_NAME["battery_mode"].address, 1)
        if self._battery_mode == registers.BATTERY_MODE_MODBUS:
            return True
        if not self._warned_mode:
            log.warning(
                "%s: battery management mode (register 1080) is %s, not 2 (external via Modbus): "
                "the inverter ignores battery setpoints, so none are written",
                self.name,
                self._battery_mode,
            )
            self._warned_mode = True
        return False
