"""Driver for PIKO 4.2-20, PIKO CI and PIKO MP plus: SunSpec models from 40000.

KOSTAL does not publish their own Modbus maps, so the product speaks SunSpec to them. On each
new connection the driver walks the model chain ("SunS", then ID/L headers up to 0xFFFF) and
remembers where models 103, 123, 802 and 124 start; each cycle then reads 103 through 123 in
one request and, with a battery, 802 and 124 in a second one.

Reading: AC power 103 ``W``, PV power 103 ``DCW``, limit 123 ``WMaxLimPct`` when
``WMaxLim_Ena`` is on (else 100 %), battery 802 ``SoC`` and ``W`` (SunSpec: discharge +; the
product: charge +).

Writing, every register with FC06 (some inverters refuse FC16 on model 123): the limit as
``WMaxLimPct_RvrtTms`` = 30 s, ``WMaxLimPct``, ``WMaxLim_Ena`` = 1; released with 100 % and
``WMaxLim_Ena`` = 0. The PIKO MP plus battery through model 124: ``InWRte`` = p and ``OutWRte`` =
-p (p = setpoint in % of ``WChaMax``) pin the battery at the setpoint, ``StorCtl_Mod`` = 3
switches both limits on, ``InOutWRte_RvrtTms`` = 30 s; released with ``StorCtl_Mod`` = 0.
A PIKO CI is never written (it is monitored only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from energy.devices import InverterReading
from energy.state import DeviceInfo
from inverters import sunspec
from inverters.drivers.modbus import (
    BATTERY_W,
    LIMIT_PCT,
    REVERT_TIMEOUT_S,
    InverterError,
    ModbusInverter,
    firmware_number,
)

MAX_MODELS = 64  # a chain longer than this is not a SunSpec device


@dataclass(frozen=True, slots=True)
class _Model:
    address: int  # of the ID register
    layout: sunspec.ModelLayout

    @property
    def end(self) -> int:
        return self.address + self.layout.size

    def point_address(self, name: str) -> int:
        return self.address + self.layout.offset(name)


def plan_reads(models: list[_Model], max_count: int = sunspec.MAX_READ_COUNT) -> list[tuple[int, int]]:
    """Fewest (start, count) requests that cover the models, each at most ``max_count`` long."""
    spans: list[list[int]] = []
    for model in sorted(models, key=lambda m: m.address):
        if spans and model.end - spans[-1][0] <= max_count:
            spans[-1][1] = max(spans[-1][1], model.end)
        else:
            spans.append([model.address, model.end])
    return [(start, end - start) for start, end in spans]


class SunSpecInverter(ModbusInverter):
    _models: dict[int, _Model] | None = None
    _factors: dict[str, int] | None = None  # scale factors of the writable points, from the last read
    _battery_full_w: float | None = None

    def _on_disconnect(self) -> None:
        self._models = None

    async def _discover(self) -> dict[int, _Model]:
        if self._models is not None:
            return self._models
        marker = await self._read_registers(sunspec.SUNSPEC_BASE, 2)
        if tuple(marker) != sunspec.SUNS_MARKER:
            raise InverterError(f"no SunSpec marker 'SunS' at {sunspec.SUNSPEC_BASE}: is this a SunSpec device?")
        models: dict[int, _Model] = {}
        address = sunspec.SUNSPEC_BASE + 2
        for _ in range(MAX_MODELS):
            model_id, length = await self._read_registers(address, 2)
            if model_id == sunspec.END_MODEL_ID:
                break
            layout = sunspec.layout_for(model_id, length)
            if layout is not None and model_id not in models:
                models[model_id] = _Model(address, layout)
            address += 2 + length
        else:
            raise InverterError(f"SunSpec chain has no end model after {MAX_MODELS} models")
        if 103 not in models:
            raise InverterError("SunSpec chain has no three-phase inverter model (103)")
        self._models = models
        return models

    async def _model_values(self, wanted: list[int]) -> dict[int, tuple[_Model, list[int], dict[str, sunspec.Value]]]:
        models = await self._discover()
        chosen = [models[m] for m in wanted if m in models]
        words: dict[int, int] = {}
        for start, count in plan_reads(chosen):
            words |= {start + i: w for i, w in enumerate(await self._read_registers(start, count))}
        result = {}
        for model in chosen:
            model_words = [words[a] for a in range(model.address, model.end)]
            result[model.layout.model_id] = (model, model_words, sunspec.decode_model(model.layout, model_words))
        return result

    async def _read(self) -> InverterReading:
        has_battery = self.config.battery is not None
        values = await self._model_values([103, 123, 802, 124] if has_battery else [103, 123])
        _, _, inverter = values[103]
        ac_w = inverter.get("W")
        if not isinstance(ac_w, float) or not math.isfinite(ac_w):
            raise InverterError("does not report its AC power (SunSpec model 103 W)")
        pv_w = inverter.get("DCW")
        limit_pct: float | None = None
        factors: dict[str, int] = {}
        if 123 in values:
            model, words, controls = values[123]
            factor = sunspec.scale_factor_of(model.layout, words, "WMaxLimPct")
            if factor is not None:
                factors["WMaxLimPct"] = factor
            pct, enabled = controls.get("WMaxLimPct"), controls.get("WMaxLim_Ena")
            if isinstance(pct, float):
                limit_pct = pct if enabled == sunspec.ENABLED else 100.0
        soc = battery_w = None
        if 802 in values:
            _, _, battery = values[802]
            soc_value, w_value = battery.get("SoC"), battery.get("W")
            soc = soc_value if isinstance(soc_value, float) else None
            battery_w = 0.0 - w_value if isinstance(w_value, float) else None
        if 124 in values:
            model, words, storage = values[124]
            factor = sunspec.scale_factor_of(model.layout, words, "InWRte")
            if factor is not None:
                factors["InWRte"] = factor
            full = storage.get("WChaMax")
            self._battery_full_w = full if isinstance(full, float) and full > 0 else None
        self._factors = factors
        return InverterReading(
            ac_power_w=ac_w,
            pv_power_w=pv_w if isinstance(pv_w, float) else None,
            limit_pct=limit_pct,
            battery_power_w=battery_w,
            battery_soc_pct=soc,
        )

    async def _identify(self) -> DeviceInfo:
        models = await self._discover()
        if 1 not in models:
            raise InverterError("SunSpec chain has no common model (1)")
        _, _, common = (await self._model_values([1]))[1]
        return DeviceInfo(
            vendor=str(common.get("Mn") or ""),
            product=str(common.get("Md") or ""),
            serial=str(common.get("SN") or ""),
            firmware_version=firmware_number(str(common.get("Vr") or "")),
        )

    def _normalise(self, quantity: str, value: float) -> float | None:
        if quantity == LIMIT_PCT:
            return round(min(100.0, max(0.0, value)), 2)
        if self.config.battery is None:
            return None
        return float(round(value))

    async def _scale(self, point: str) -> int:
        if self._factors is None or point not in self._factors:
            await self._read()
        factor = (self._factors or {}).get(point)
        if factor is None:
            raise InverterError(f"does not report the scale factor of {point}")
        return factor

    async def _controls(self, model_id: int) -> _Model:
        model = (await self._discover()).get(model_id)
        if model is None:
            name = {123: "immediate controls (123)", 124: "storage controls (124)"}[model_id]
            raise InverterError(f"SunSpec chain has no {name} model: it cannot take this setpoint")
        return model

    async def _apply(self, quantity: str, value: float) -> None:
        if quantity == LIMIT_PCT:
            await self._write_limit(value, enabled=True)
            return
        model = await self._controls(124)
        factor = await self._scale("InWRte")
        full_w = self._battery_full_w
        if not full_w:
            raise InverterError("does not report its maximum charge power (SunSpec model 124 WChaMax)")
        pct = max(-100.0, min(100.0, value / full_w * 100.0))
        raw = round(pct / 10.0**factor)
        await self._write_registers(model.point_address("OutWRte"), [-raw & 0xFFFF, raw & 0xFFFF, 0, REVERT_TIMEOUT_S])
        mode = sunspec.STORAGE_CHARGE_LIMIT | sunspec.STORAGE_DISCHARGE_LIMIT
        await self._write_register(model.point_address("StorCtl_Mod"), mode)

    async def _release(self, quantity: str) -> None:
        if quantity == LIMIT_PCT:
            await self._write_limit(100.0, enabled=False)
            return
        model = await self._controls(124)
        await self._write_register(model.point_address("StorCtl_Mod"), 0)

    async def _write_limit(self, pct: float, *, enabled: bool) -> None:
        model = await self._controls(123)
        factor = await self._scale("WMaxLimPct")
        if enabled:
            await self._write_register(model.point_address("WMaxLimPct_RvrtTms"), REVERT_TIMEOUT_S)
        await self._write_register(model.point_address("WMaxLimPct"), round(pct / 10.0**factor))
        await self._write_register(model.point_address("WMaxLim_Ena"), sunspec.ENABLED if enabled else sunspec.DISABLED)


__all__ = ["BATTERY_W", "LIMIT_PCT", "SunSpecInverter", "plan_reads"]
