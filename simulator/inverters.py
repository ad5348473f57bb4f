"""Simulated inverters (INV-6): the physics of one inverter and the registers it answers with.

Physics (:class:`SimInverter`, driven by :class:`simulator.model.PlantModel`):

* Its own PV array: :class:`simulator.pv.PvArray` with the inverter's ``pv_peak_w`` and the
  plant's seed, so its clouds are the plant's clouds.
* An active-power limit in % of ``max_ac_w``. The PV output settles toward
  ``min(available PV, limit)`` with a first-order lag (time constant 0.3 s: settled
  within about a second), and never exceeds
  what the sun gives right now.
* A watchdog: a written limit or battery setpoint lasts ``watchdog_s`` (default 30 s of
  simulated time) after its last write; then the limit falls back to the inverter's own
  ``fallback_limit_pct`` (100 % unless configured) and the battery to its own control.
* A battery, if it has one. PLENTICORE (and BI) run it for self-consumption like
  :mod:`simulator.home_battery` unless a setpoint arrives (register 1034, obeyed only with
  battery management mode 1080 = 2); a PIKO MP plus battery follows the product's setpoint and
  otherwise stays at 0 W. Either way within the SoC window and the charge/discharge limits.
  AC output = PV output - battery charge (a discharge adds to it), capped at the limit.

Everything is a function of (seed, scenario, t, writes): no wall clock.

Registers: :class:`KostalInverterRegisters` (KOSTAL's map, :mod:`inverters.registers`) and
:class:`SunSpecInverterRegisters` (the SunSpec chain, :mod:`inverters.sunspec`). Both are
register sources with a write hook for :class:`simulator.server.ModbusDeviceServer`.
"""

from __future__ import annotations

import enum
import functools
import math
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from energy.config import KOSTAL_MAP_TYPES, PIKO_CI, PIKO_EPC, PIKO_MP_PLUS, PLENTICORE, PLENTICORE_BI
from energy.sunspec import chain_image
from inverters import registers as kostal
from inverters import sunspec
from simulator import home_battery, noise
from simulator.pv import PvArray
from simulator.scenario import BatteryConfig, InverterScenario, Scenario

if TYPE_CHECKING:
    from simulator.model import PlantModel

# An inverter settles to a new limit in about a second: 95 % of the way after 0.9 s.
SETTLING_TIME_CONSTANT_S = 0.3
# Types that run their battery for self-consumption when nobody sends a setpoint.
SELF_CONSUMPTION_TYPES = frozenset({PLENTICORE, PLENTICORE_BI})
KOSTAL_UNIT_IDS = (71,)
SUNSPEC_UNIT_IDS = (1, 71)
MPPT_MODULES = 2
DC_VOLTAGE_V = 600.0
AC_VOLTAGE_V = 230.0
BATTERY_VOLTAGE_V = 400.0


class BatteryControl(enum.StrEnum):
    SELF_CONSUMPTION = "self-consumption"  # the inverter's own control
    SETPOINT = "setpoint"  # the product's setpoint is in force
    IDLE = "idle"  # no setpoint and no own control: 0 W


@dataclass(frozen=True, slots=True)
class InverterPowers:
    """One inverter at one instant. Battery charge (+) / discharge (-)."""

    pv_available_w: float  # what the PV array could deliver with no limit
    pv_w: float  # what it delivers
    battery_w: float
    limit_pct: float  # the limit in force
    control: BatteryControl | None  # None: no battery

    @property
    def ac_w(self) -> float:
        return self.pv_w - self.battery_w


@dataclass(frozen=True, slots=True, kw_only=True)
class InverterTruth:
    """What a simulated inverter really does right now, for tests and the replay."""

    name: str
    type: str
    max_ac_w: float
    pv_peak_w: float
    ac_power_w: float
    pv_power_w: float
    pv_available_w: float
    limit_pct: float  # in force (100 when none is)
    limit_written_pct: float  # as last written, in force or not
    limit_enabled: bool
    battery_power_w: float | None
    battery_soc_pct: float | None
    battery_control: BatteryControl | None
    battery_setpoint_w: float | None  # in force, charge (+)
    battery_max_charge_w: float | None
    battery_max_discharge_w: float | None
    battery_min_soc_pct: float | None
    battery_max_soc_pct: float | None
    battery_capacity_wh: float | None
    modbus_battery_control: bool
    energy_wh: float  # AC energy fed in, ever
    setpoint_writes: int  # writes that reached the inverter's controls


class SimInverter:
    """State of one simulated inverter; the model owns it and calls it under its lock."""

    def __init__(self, config: InverterScenario, scenario: Scenario, seed: int) -> None:
        self.config = config
        self.seed = seed
        self.pv = PvArray(seed, config.pv_peak_w, scenario.cloudiness, scenario.latitude_deg, scenario.longitude_deg)
        self.clear_sky = PvArray(seed, config.pv_peak_w, 0.0, scenario.latitude_deg, scenario.longitude_deg)
        battery = config.battery
        # Integration state, valid at the model's anchor time.
        self.pv_out_w: float | None = None  # None: settled (start of the simulation)
        self.soc_pct: float | None = battery.initial_soc_pct if battery else None
        self.energy_wh = round(2_000_000.0 + 20_000_000.0 * noise.unit(seed, _ENERGY, _name_index(config.name)), 1)
        # Control state: what was written, and when (simulated seconds since the epoch).
        self.limit_pct = 100.0
        self.limit_enabled = False
        self.limit_written_s: float | None = None
        self.battery_setpoint_w: float | None = None
        self.battery_written_s: float | None = None
        self.max_charge_w = battery.max_power_w if battery else 0.0
        self.max_discharge_w = battery.max_power_w if battery else 0.0
        self.min_soc_pct = battery.min_soc_pct if battery else 0.0
        self.max_soc_pct = battery.max_soc_pct if battery else 100.0
        self.setpoint_writes = 0
        self._battery_window: tuple[tuple[float, float], BatteryConfig] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def battery(self) -> BatteryConfig | None:
        """The battery with the SoC window currently in force."""
        battery = self.config.battery
        if battery is None:
            return None
        low = max(battery.min_soc_pct, self.min_soc_pct)
        high = max(low, min(battery.max_soc_pct, self.max_soc_pct))
        # The window changes only with a write: the last copy serves until then (a zero bound
        # is copied anew, as 0.0 == -0.0).
        window = self._battery_window
        if window is None or window[0] != (low, high) or not (low and high):
            window = self._battery_window = ((low, high), replace(battery, min_soc_pct=low, max_soc_pct=high))
        return window[1]

    @property
    def accepts_battery_setpoints(self) -> bool:
        if self.config.type in KOSTAL_MAP_TYPES:
            return self.config.modbus_battery_control
        return True

    # --- control, at simulated time t_s ----------------------------------------------------
    def limit_active(self, t_s: float) -> bool:
        """A written limit is enabled and its watchdog has not fired."""
        return self.limit_enabled and not self._expired(self.limit_written_s, t_s)

    def limit_at(self, t_s: float) -> float:
        return self.limit_pct if self.limit_active(t_s) else self.config.fallback_limit_pct

    def battery_setpoint_at(self, t_s: float) -> float | None:
        if self._expired(self.battery_written_s, t_s):
            return None
        return self.battery_setpoint_w

    def _expired(self, written_s: float | None, t_s: float) -> bool:
        return written_s is None or t_s - written_s >= self.config.watchdog_s

    def write_limit(self, t_s: float, limit_pct: float | None, enabled: bool | None) -> None:
        if self._expired(self.limit_written_s, t_s):
            self.limit_enabled = False  # the watchdog fired: back to "no limit"
        if limit_pct is not None:
            self.limit_pct = min(max(float(limit_pct), 0.0), 100.0)
        if enabled is not None:
            self.limit_enabled = enabled
        self.limit_written_s = t_s
        self.setpoint_writes += 1

    def write_battery(self, t_s: float, power_w: float | None) -> None:
        if not self.accepts_battery_setpoints or self.config.battery is None:
            return
        self.battery_setpoint_w = None if power_w is None else float(power_w)
        self.battery_written_s = None if power_w is None else t_s
        self.setpoint_writes += 1

    def write_battery_limits(
        self,
        max_charge_w: float | None = None,
        max_discharge_w: float | None = None,
        min_soc_pct: float | None = None,
        max_soc_pct: float | None = None,
    ) -> None:
        battery = self.config.battery
        if battery is None or not self.accepts_battery_setpoints:
            return
        if max_charge_w is not None:
            self.max_charge_w = min(max(max_charge_w, 0.0), battery.max_power_w)
        if max_discharge_w is not None:
            self.max_discharge_w = min(max(max_discharge_w, 0.0), battery.max_power_w)
        if min_soc_pct is not None:
            self.min_soc_pct = min(max(min_soc_pct, 0.0), 100.0)
        if max_soc_pct is not None:
            self.max_soc_pct = min(max(max_soc_pct, 0.0), 100.0)

    # --- physics -----------------------------------------------------------------------------
    def available_w(self, t_s: float, cloud: tuple[float, float] | None) -> float:
        """PV power the array could deliver at ``t_s``; a test's cloud replaces the seeded ones."""
        if cloud is not None and t_s < cloud[1]:
            return self.clear_sky.power_w(t_s) * (1.0 - cloud[0])
        return self.pv.power_w(t_s)

    def soc_at(self, elapsed_s: float, anchor_battery_w: float) -> float | None:
        battery = self.battery
        if battery is None or self.soc_pct is None:
            return None
        if elapsed_s <= 0:
            return self.soc_pct
        return home_battery.soc_after(battery, self.soc_pct, anchor_battery_w, elapsed_s)

    def clamp_battery(self, power_w: float, soc_pct: float) -> float:
        """A battery power within the power limits and the SoC window."""
        battery = self.battery
        if battery is None:
            return 0.0
        power_w = min(max(power_w, -self.max_discharge_w), self.max_charge_w)
        if power_w > 0 and soc_pct >= battery.max_soc_pct:
            return 0.0
        if power_w < 0 and soc_pct <= battery.min_soc_pct:
            return 0.0
        return power_w

    def powers(
        self,
        t_s: float,
        elapsed_s: float,
        available_w: float,
        battery_w: float,
        control: BatteryControl | None,
    ) -> InverterPowers:
        """Output at ``t_s``, ``elapsed_s`` after the anchor, with the battery already decided."""
        limit_pct = self.limit_at(t_s)
        cap_w = self.config.max_ac_w * limit_pct / 100.0
        battery_w = max(battery_w, -cap_w)  # a discharge is AC output too
        target_w = min(available_w, max(0.0, cap_w + battery_w))
        if self.pv_out_w is None:
            pv_w = target_w
        else:
            pv_w = target_w + (self.pv_out_w - target_w) * math.exp(-elapsed_s / SETTLING_TIME_CONSTANT_S)
        pv_w = max(0.0, min(pv_w, available_w))
        return InverterPowers(available_w, pv_w, battery_w, limit_pct, control)


def decide_batteries(
    inverters: Sequence[SimInverter],
    t_s: float,
    socs: Sequence[float | None],
    expected_pv_w: float,
    house_w: float,
    wallbox_w: float,
) -> list[tuple[float, BatteryControl | None]]:
    """Every inverter's battery power and who decides it; self-consumption batteries share the
    surplus in the order the inverters are listed."""
    decided: list[tuple[float, BatteryControl | None]] = []
    assigned_w = 0.0
    for inverter, soc in zip(inverters, socs, strict=True):
        battery = inverter.battery
        if battery is None or soc is None:
            decided.append((0.0, None))
            continue
        setpoint = inverter.battery_setpoint_at(t_s)
        if setpoint is not None:
            power_w, control = inverter.clamp_battery(setpoint, soc), BatteryControl.SETPOINT
        elif inverter.config.type in SELF_CONSUMPTION_TYPES:
            wanted = home_battery.hybrid_battery_power_w(battery, soc, expected_pv_w - assigned_w, house_w, wallbox_w)
            power_w, control = inverter.clamp_battery(wanted, soc), BatteryControl.SELF_CONSUMPTION
        else:
            power_w, control = 0.0, BatteryControl.IDLE
        assigned_w += power_w
        decided.append((power_w, control))
    return decided


def truth(inverter: SimInverter, powers: InverterPowers, soc_pct: float | None, t_s: float) -> InverterTruth:
    battery = inverter.battery
    return InverterTruth(
        name=inverter.name,
        type=inverter.config.type,
        max_ac_w=inverter.config.max_ac_w,
        pv_peak_w=inverter.config.pv_peak_w,
        ac_power_w=powers.ac_w,
        pv_power_w=powers.pv_w,
        pv_available_w=powers.pv_available_w,
        limit_pct=powers.limit_pct,
        limit_written_pct=inverter.limit_pct,
        limit_enabled=inverter.limit_active(t_s),
        battery_power_w=powers.battery_w if battery else None,
        battery_soc_pct=soc_pct,
        battery_control=powers.control,
        battery_setpoint_w=inverter.battery_setpoint_at(t_s),
        battery_max_charge_w=inverter.max_charge_w if battery else None,
        battery_max_discharge_w=inverter.max_discharge_w if battery else None,
        battery_min_soc_pct=battery.min_soc_pct if battery else None,
        battery_max_soc_pct=battery.max_soc_pct if battery else None,
        battery_capacity_wh=battery.capacity_wh if battery else None,
        modbus_battery_control=inverter.accepts_battery_setpoints,
        energy_wh=inverter.energy_wh,
        setpoint_writes=inverter.setpoint_writes,
    )


def _name_index(name: str) -> int:
    return noise.channel_id(name)


_ENERGY = noise.channel_id("inverter.energy")

# --- registers ------------------------------------------------------------------------------

_PRODUCT_NAMES = {
    PLENTICORE: "PLENTICORE plus",
    PLENTICORE_BI: "PLENTICORE BI",
    "piko_iq": "PIKO IQ",
    PIKO_EPC: "PIKO",
    PIKO_CI: "PIKO CI",
    PIKO_MP_PLUS: "PIKO MP plus",
}


def product_name(kind: str) -> str:
    return _PRODUCT_NAMES[kind]


@functools.cache  # a pure function, asked at every image build
def power_class(max_ac_w: float) -> str:
    """'10', '8.5', '4.2': the type plate's way of writing kW."""
    kw = max_ac_w / 1000.0
    return f"{kw:.1f}" if kw < 10 else f"{kw:g}"


@functools.cache  # a pure function, asked at every image build
def serial_number(seed: int, name: str) -> str:
    digits = int(noise.unit(seed, noise.channel_id("inverter.serial"), _name_index(name)) * 10_000_000)
    return f"SIM{digits:07d}"


class _CachedImage:
    """Rebuild the image only when the model has moved on (a tick, a write, an override)."""

    def __init__(self, model: PlantModel, name: str) -> None:
        self.model = model
        self.inverter_name = name
        self._revision = -1
        self._image: dict[int, int] = {}
        self._lock = threading.Lock()

    def image(self) -> Mapping[int, int]:
        with self._lock:
            revision = self.model.revision
            if revision != self._revision:
                self._image = self.build()
                self._revision = revision
            return self._image

    def build(self) -> dict[int, int]:
        raise NotImplementedError


def _same_value(last: kostal.Value, value: kostal.Value) -> bool:
    """Whether ``value`` encodes to the same words as ``last``: equal and of one type, and not a
    float zero (0.0 == -0.0, but their words differ); NaN is equal to nothing."""
    return type(last) is type(value) and last == value and not (type(value) is float and value == 0.0)


_KOSTAL_ZEROS = {start + i: 0 for start, count in kostal.SERVED_RANGES for i in range(count)}


class KostalInverterRegisters(_CachedImage):
    """PLENTICORE plus / PLENTICORE BI / PIKO IQ: KOSTAL's own map, CDAB word order until a
    client writes 1 to register 5 (ABCD), as the inverter's menu or Modbus may set it."""

    unit_ids = KOSTAL_UNIT_IDS
    word_order = kostal.WORD_ORDER_CDAB

    def __init__(self, model: PlantModel, name: str) -> None:
        super().__init__(model, name)
        # Per register: (word order, value, words) last encoded.
        self._words: dict[str, tuple[str, kostal.Value, list[int]]] = {}

    @property
    def ranges(self) -> Sequence[tuple[int, int]]:
        return kostal.SERVED_RANGES

    def build(self) -> dict[int, int]:
        now = self.model.inverter_output(self.inverter_name)
        frequency_hz = self.model.frequency_hz()
        kind = now.type
        image = dict(_KOSTAL_ZEROS)
        has_battery = now.battery_power_w is not None
        if now.limit_pct < 100.0 and now.pv_power_w < now.pv_available_w - 1.0:
            state = kostal.STATE_THROTTLED
        elif abs(now.ac_power_w) > 0.5 or now.pv_available_w > 0:
            state = kostal.STATE_FEED_IN
        else:
            state = kostal.STATE_STANDBY
        values: dict[str, kostal.Value] = {
            "byte_order": 1 if self.word_order == kostal.WORD_ORDER_ABCD else 0,
            "article_number": f"1{serial_number(self.model.seed, now.name)[3:]}",
            "serial_number": serial_number(self.model.seed, now.name),
            "bidirectional_converters": 1 if has_battery else 0,
            "ac_phases": 3,
            "pv_strings": 0 if kind == PLENTICORE_BI else (3 if kind == PLENTICORE and not has_battery else 2),
            "hardware_version": 0x0200,
            "software_version": "02.15.19",
            "inverter_state": state,
            "dc_power": now.pv_power_w,
            "grid_frequency": frequency_hz,
            "ac_power": now.ac_power_w,
            "battery_soc": now.battery_soc_pct or 0.0,
            "battery_soc_pct": round(now.battery_soc_pct or 0.0),
            "max_power": round(now.max_ac_w),
            "max_power_sf": 0,
            "active_power_setpoint": round(now.limit_pct),
            "generation_power": max(-0x8000, min(0x7FFF, round(now.ac_power_w))),
            "generation_power_sf": 0,
            "battery_power": max(-0x8000, min(0x7FFF, round(-(now.battery_power_w or 0.0)))),
            "product_name": product_name(kind),
            "power_class": power_class(now.max_ac_w),
            "pv_dc_power": now.pv_power_w,
        }
        if has_battery:
            setpoint = now.battery_setpoint_w
            values |= {
                "battery_setpoint": 0.0 if setpoint is None else -setpoint,
                "battery_max_charge": now.battery_max_charge_w or 0.0,
                "battery_max_discharge": now.battery_max_discharge_w or 0.0,
                "battery_min_soc": now.battery_min_soc_pct or 0.0,
                "battery_max_soc": now.battery_max_soc_pct or 0.0,
                "battery_work_capacity": now.battery_capacity_wh or 0.0,
                "battery_max_charge_hw": now.battery_max_charge_w or 0.0,
                "battery_max_discharge_hw": now.battery_max_discharge_w or 0.0,
                "battery_mode": kostal.BATTERY_MODE_MODBUS if now.modbus_battery_control else kostal.BATTERY_MODE_NONE,
            }
        image.update(self._encode(values))
        return image

    def _encode(self, values: Mapping[str, kostal.Value]) -> dict[int, int]:
        """``kostal.encode(values, self.word_order)``, reusing a register's words while its value
        and the word order stay the same (the nameplate strings never change; most numbers
        seldom). A value that does not encode raises as in ``kostal.encode``: only encoded
        values are kept."""
        image: dict[int, int] = {}
        order = self.word_order
        kept = self._words
        for name, value in values.items():
            register = kostal.BY_NAME[name]
            last = kept.get(name)
            if last is not None and last[0] == order and _same_value(last[1], value):
                words = last[2]
            else:
                words = kostal.encode_value(register, value, order)
                kept[name] = (order, value, words)
            for index, word in enumerate(words):
                image[register.address + index] = word
        return image

    def write(self, address: int, words: Sequence[int]) -> bool:
        """Apply a write; ``False`` for an address that takes none (exception 2), ``ValueError``
        for a value out of range (exception 3)."""
        end = address + len(words)
        targets = [r for r in kostal.REGISTERS if r.writable and address <= r.address < end]
        covered = sum(r.count for r in targets)
        if covered != len(words) or any(r.end > end for r in targets):
            return False
        now = self.model.inverter_output(self.inverter_name)
        battery_registers = [r for r in targets if r.name not in ("active_power_setpoint", "byte_order")]
        if battery_registers and now.battery_power_w is None:
            return False
        values = {r.name: kostal.decode_value(r, list(words[r.address - address : r.end - address])) for r in targets}
        for name, value in values.items():
            if isinstance(value, str) or (isinstance(value, float) and not math.isfinite(value)):
                raise ValueError(f"{name}: {value!r}")
        if "byte_order" in values:
            if values["byte_order"] not in (0, 1):
                raise ValueError(f"byte order {values['byte_order']!r} is neither 0 (CDAB) nor 1 (ABCD)")
            with self._lock:
                self.word_order = kostal.WORD_ORDER_ABCD if values["byte_order"] == 1 else kostal.WORD_ORDER_CDAB
                self._revision = -1  # rebuild the image in the new word order
        if "active_power_setpoint" in values:
            pct = float(values["active_power_setpoint"])
            if not 1 <= pct <= 100:
                raise ValueError(f"active power setpoint {pct:g} % is outside 1-100 %")
            self.model.write_inverter_limit(self.inverter_name, pct, enabled=True)
        limits = {
            key: float(values[name])
            for name, key in (
                ("battery_max_charge", "max_charge_w"),
                ("battery_max_discharge", "max_discharge_w"),
                ("battery_min_soc", "min_soc_pct"),
                ("battery_max_soc", "max_soc_pct"),
            )
            if name in values
        }
        if limits:
            self.model.write_inverter_battery_limits(self.inverter_name, **limits)
        if "battery_setpoint" in values:
            # The inverter counts charging negative; the model (and the product) positive.
            self.model.write_inverter_battery(self.inverter_name, -float(values["battery_setpoint"]))
        return True


def sunspec_layouts(kind: str, has_battery: bool) -> list[sunspec.ModelLayout]:
    layouts = [sunspec.COMMON, sunspec.INVERTER_3P, sunspec.NAMEPLATE, sunspec.CONTROLS]
    layouts.append(sunspec.mppt_layout(MPPT_MODULES))
    if has_battery:
        layouts += [sunspec.BATTERY, sunspec.STORAGE]
    return layouts


# Writable points whose value the simulated inverter only keeps to read back.
_KEPT_DEFAULTS: dict[str, float] = {
    "Conn": 1,
    "WMaxLimPct_RvrtTms": 0,
    "WMaxLimPct_WinTms": 0,
    "WMaxLimPct_RmpTms": 0,
    "OutPFSet_Ena": 0,
    "VArPct_Ena": 0,
    "StorCtl_Mod": 0,
    "OutWRte": 100,
    "InWRte": 100,
    "InOutWRte_RvrtTms": 0,
    "InOutWRte_WinTms": 0,
    "ChaGriSet": 0,
}
_FIXED_SCALE_FACTORS = {
    "WMaxLimPct_SF": -2,
    "OutPFSet_SF": -3,
    "VArPct_SF": 0,
    "InOutWRte_SF": -2,
    "WChaMax_SF": 0,
    "SoC_SF": -1,
    "ChaState_SF": -1,
}


class SunSpecInverterRegisters(_CachedImage):
    """PIKO 4.2-20, PIKO CI, PIKO MP plus: the SunSpec chain from 40000."""

    unit_ids = SUNSPEC_UNIT_IDS

    def __init__(self, model: PlantModel, name: str) -> None:
        super().__init__(model, name)
        config = model.inverter_config(name)
        self.kind = config.type
        self.layouts = sunspec_layouts(config.type, config.battery is not None)
        self.addresses = sunspec.model_addresses(self.layouts)
        self.kept: dict[str, float] = dict(_KEPT_DEFAULTS)
        # Per model: the values last encoded and their words (most models change seldom).
        self._encoded: dict[int, tuple[dict[str, sunspec.Value], list[int]]] = {}
        self._points: dict[int, tuple[sunspec.ModelLayout, sunspec.Point]] = {}
        for layout in self.layouts:
            address = self.addresses[layout.model_id] + 2
            for point in layout.points:
                self._points[address] = (layout, point)
                address += point.size

    @property
    def ranges(self) -> Sequence[tuple[int, int]]:
        return ((sunspec.SUNSPEC_BASE, sunspec.chain_length(self.layouts)),)

    def build(self) -> dict[int, int]:
        now = self.model.inverter_output(self.inverter_name)
        frequency_hz = self.model.frequency_hz()
        models = []
        for layout in self.layouts:
            values = self._values(layout.model_id, now, frequency_hz)
            encoded = self._encoded.get(layout.model_id)
            if encoded is None or encoded[0] != values:
                encoded = self._encoded[layout.model_id] = (values, sunspec.encode_model(layout, values))
            models.append(encoded[1])
        return chain_image(models)

    def _values(self, model_id: int, now: InverterTruth, frequency_hz: float) -> dict[str, sunspec.Value]:
        kept = self.kept
        values: dict[str, sunspec.Value] = dict(_FIXED_SCALE_FACTORS)
        if model_id == 1:
            label = product_name(self.kind)
            if self.kind == PIKO_MP_PLUS:
                label += f" {power_class(now.max_ac_w)}-2"
            else:
                label += f" {power_class(now.max_ac_w)}"
            return {
                "Mn": "KOSTAL",
                "Md": label,
                "Opt": None,
                "Vr": "3.7.1",
                "SN": serial_number(self.model.seed, now.name),
                "DA": 1,
            }
        if model_id == 103:
            phase_a = abs(now.ac_power_w) / AC_VOLTAGE_V / 3.0
            throttled = now.limit_pct < 100.0 and now.pv_power_w < now.pv_available_w - 1.0
            if throttled:
                state = sunspec.ST_THROTTLED
            elif now.pv_available_w > 0 or abs(now.ac_power_w) > 0.5:
                state = sunspec.ST_MPPT
            else:
                state = sunspec.ST_SLEEPING
            return values | {
                "A": phase_a * 3,
                "AphA": phase_a,
                "AphB": phase_a,
                "AphC": phase_a,
                "PhVphA": AC_VOLTAGE_V,
                "PhVphB": AC_VOLTAGE_V,
                "PhVphC": AC_VOLTAGE_V,
                "W": now.ac_power_w,
                "Hz": frequency_hz,
                "VA": abs(now.ac_power_w),
                "VAr": 0.0,
                "PF": 100.0,
                "WH": now.energy_wh,
                "DCA": now.pv_power_w / DC_VOLTAGE_V,
                "DCV": DC_VOLTAGE_V,
                "DCW": now.pv_power_w,
                "TmpCab": 35.0,
                "St": state,
                "Evt1": 0,
                "Evt2": 0,
            }
        if model_id == 120:
            has_battery = now.battery_capacity_wh is not None
            return values | {
                "DERTyp": 82 if has_battery else 4,  # PV_STOR / PV
                "WRtg": now.max_ac_w,
                "VARtg": now.max_ac_w,
                "VArRtgQ1": now.max_ac_w * 0.44,
                "VArRtgQ2": 0.0,
                "VArRtgQ3": 0.0,
                "VArRtgQ4": -now.max_ac_w * 0.44,
                "ARtg": now.max_ac_w / AC_VOLTAGE_V / 3.0,
                "PFRtgQ1": 0.9,
                "PFRtgQ2": 0.0,
                "PFRtgQ3": 0.0,
                "PFRtgQ4": -0.9,
                "WHRtg": now.battery_capacity_wh,
                "MaxChaRte": now.battery_max_charge_w,
                "MaxDisChaRte": now.battery_max_discharge_w,
            }
        if model_id == 123:
            return values | {
                "Conn_WinTms": 0,
                "Conn_RvrtTms": 0,
                "Conn": kept["Conn"],
                "WMaxLimPct": now.limit_written_pct,
                "WMaxLimPct_WinTms": kept["WMaxLimPct_WinTms"],
                "WMaxLimPct_RvrtTms": kept["WMaxLimPct_RvrtTms"],
                "WMaxLimPct_RmpTms": kept["WMaxLimPct_RmpTms"],
                "WMaxLim_Ena": sunspec.ENABLED if now.limit_enabled else sunspec.DISABLED,
                "OutPFSet": 1.0,
                "OutPFSet_Ena": kept["OutPFSet_Ena"],
                "VArPct_Ena": kept["VArPct_Ena"],
            }
        if model_id == 160:
            module_w = now.pv_power_w / MPPT_MODULES
            values = {"DCA_SF": -2, "DCV_SF": -1, "DCW_SF": 0, "DCWH_SF": 0, "Evt": 0, "N": MPPT_MODULES}
            for n in range(1, MPPT_MODULES + 1):
                values |= {
                    f"{n}.ID": n,
                    f"{n}.IDStr": f"PV{n}",
                    f"{n}.DCA": module_w / DC_VOLTAGE_V,
                    f"{n}.DCV": DC_VOLTAGE_V,
                    f"{n}.DCW": module_w,
                    f"{n}.DCWH": now.energy_wh / MPPT_MODULES,
                    f"{n}.DCSt": sunspec.ST_MPPT if module_w > 0 else sunspec.ST_SLEEPING,
                }
            return values
        if model_id == 802:
            battery_w = now.battery_power_w or 0.0
            capacity = now.battery_capacity_wh or 0.0
            return values | {
                "AHRtg": capacity / BATTERY_VOLTAGE_V,
                "WHRtg": capacity,
                "WChaRteMax": now.battery_max_charge_w,
                "WDisChaRteMax": now.battery_max_discharge_w,
                "SoCMax": now.battery_max_soc_pct,
                "SoCMin": now.battery_min_soc_pct,
                "SoC": now.battery_soc_pct,
                "LocRemCtl": 1,  # remote
                "AlmRst": 0,
                "Typ": 4,  # lithium-ion
                "State": 5 if abs(battery_w) > 0.5 else 6,  # connected / standby-like
                "Evt1": 0,
                "Evt2": 0,
                "EvtVnd1": 0,
                "EvtVnd2": 0,
                "V": BATTERY_VOLTAGE_V,
                "CellVMax": 3.3,
                "CellVMin": 3.3,
                "CellVAvg": 3.3,
                "A": -battery_w / BATTERY_VOLTAGE_V,
                "W": -battery_w,  # SunSpec: discharge (+)
                "SetOp": 1,
                "SetInvState": 1,
            }
        if model_id == 124:
            soc = now.battery_soc_pct or 0.0
            charging = (now.battery_power_w or 0.0) > 0.5
            discharging = (now.battery_power_w or 0.0) < -0.5
            in_force = now.battery_setpoint_w is not None
            return values | {
                "WChaMax": now.battery_max_charge_w,
                "StorCtl_Mod": kept["StorCtl_Mod"] if in_force else 0,
                "MinRsvPct": now.battery_min_soc_pct,
                "ChaState": soc,
                "ChaSt": 4 if charging else 3 if discharging else 6,
                "OutWRte": kept["OutWRte"],
                "InWRte": kept["InWRte"],
                "InOutWRte_WinTms": kept["InOutWRte_WinTms"],
                "InOutWRte_RvrtTms": kept["InOutWRte_RvrtTms"],
                "ChaGriSet": kept["ChaGriSet"],
                "MinRsvPct_SF": -1,
            }
        return values

    def write(self, address: int, words: Sequence[int]) -> bool:
        """Writable points of models 1, 123 and 124; anything else answers exception 2."""
        writes: list[tuple[sunspec.ModelLayout, sunspec.Point, list[int]]] = []
        offset = 0
        while offset < len(words):
            entry = self._points.get(address + offset)
            if entry is None or not entry[1].writable:
                return False
            layout, point = entry
            if offset + point.size > len(words):
                return False
            writes.append((layout, point, list(words[offset : offset + point.size])))
            offset += point.size
        touched: set[str] = set()
        for _layout, point, point_words in writes:
            raw = struct.unpack(">h" if point.dtype == "int16" else ">H", struct.pack(">H", point_words[0]))[0]
            factor = _FIXED_SCALE_FACTORS.get(point.scale_factor or "", 0)
            value = raw * 10.0**factor if point.scale_factor else float(raw)
            if point.name == "WMaxLimPct" and not 0 <= value <= 100:
                raise ValueError(f"WMaxLimPct {value:g} % is outside 0-100 %")
            if point.name in ("WMaxLim_Ena", "StorCtl_Mod") and raw not in (0, 1, 2, 3):
                raise ValueError(f"{point.name}: {raw}")
            self.kept[point.name] = value
            touched.add(point.name)
        if touched & {"WMaxLimPct", "WMaxLim_Ena"}:
            self.model.write_inverter_limit(
                self.inverter_name,
                self.kept["WMaxLimPct"] if "WMaxLimPct" in touched else None,
                enabled=bool(self.kept["WMaxLim_Ena"]) if "WMaxLim_Ena" in touched else None,
            )
        if touched & {"StorCtl_Mod", "OutWRte", "InWRte"}:
            self.model.write_inverter_battery(self.inverter_name, self._battery_setpoint_w())
        return True

    def _battery_setpoint_w(self) -> float | None:
        """The power the storage controls pin: 0 W clamped into [-OutWRte, InWRte] % of WChaMax."""
        mode = int(self.kept["StorCtl_Mod"])
        if mode == 0:
            return None
        full_w = self.model.inverter_output(self.inverter_name).battery_max_charge_w or 0.0
        low = -self.kept["OutWRte"] * full_w / 100.0 if mode & sunspec.STORAGE_DISCHARGE_LIMIT else -math.inf
        high = self.kept["InWRte"] * full_w / 100.0 if mode & sunspec.STORAGE_CHARGE_LIMIT else math.inf
        if low > high:
            low, high = high, low
        return min(max(0.0, low), high)

    def kept_values(self) -> Mapping[str, float]:
        return dict(self.kept)


def register_source(model: PlantModel, name: str) -> KostalInverterRegisters | SunSpecInverterRegisters:
    kind = model.inverter_config(name).type
    if kind in KOSTAL_MAP_TYPES:
        return KostalInverterRegisters(model, name)
    return SunSpecInverterRegisters(model, name)
