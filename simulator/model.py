"""The virtual plant behind the grid meter: PV, house, battery, wallbox and the meter's view.

Pure physics: no sockets, no wall clock. Simulated time comes in through :meth:`PlantModel.advance`
as a timezone-aware datetime. Everything that is not integration state (sun, clouds, appliances,
noise on voltage and frequency) is a function of (seed, scenario, t) alone; the integration state
(energy counters, battery SoC, energy charged into the car) advances on a fixed grid of whole
simulated seconds. So the values at a time t do not depend on how often the model was sampled,
only on t and on any overrides a test applied.

Sign conventions as in :mod:`energy.state`: grid purchase (+) / feed-in (-), battery charge (+) /
discharge (-). grid = house + wallbox + battery - pv, per phase and in total.

With inverters in the scenario (:mod:`simulator.inverters`), PV and batteries are theirs: each
inverter's AC output (PV minus battery charge) is spread evenly over the three phases, and the
scenario-level PV array and battery are not simulated. Hooks for tests and the replay:
:meth:`PlantModel.set_cloud`, :meth:`PlantModel.add_house_phase_load`, the inverters' setpoint
writes (:meth:`PlantModel.write_inverter_limit`, :meth:`PlantModel.write_inverter_battery`), and
the truth to compare against (:meth:`PlantModel.inverter_outputs`, :meth:`PlantModel.house_truth`,
:meth:`PlantModel.pv_available_w`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from energy.config import ROTATIONS
from energy.state import DeviceInfo, EnergyCounters, FlowSummary, MeterReading, PhaseReading
from simulator import car_charging, home_battery, noise
from simulator.car_charging import SessionKey
from simulator.enector import BoxNow, SimEnector, WallboxTruth, WriteRecord
from simulator.house import Household, HouseLoad, Phases, reactive_var, split_base
from simulator.inverters import InverterPowers, InverterTruth, SimInverter, decide_batteries, truth
from simulator.pv import PvArray
from simulator.scenario import BatteryConfig, CarScenario, InverterScenario, Scenario, WallboxScenario

INTEGRATION_STEP_S = 1.0  # the grid the integration state advances on, aligned to whole epoch seconds
NOMINAL_VOLTAGE_V = 230.0
VOLTAGE_SPREAD_V = 2.0
NOMINAL_FREQUENCY_HZ = 50.0
FREQUENCY_SPREAD_HZ = 0.02
WALLBOX_POWER_FACTOR = 0.99
MEASURING_INTERVAL_MS = 200
_VOLTAGE_PERIOD_S = 20.0
_FREQUENCY_PERIOD_S = 10.0
_COUNTER_FIELDS = tuple(f.name for f in dataclasses.fields(EnergyCounters))
_PHASE_RANGE = range(3)

OVERRIDABLE = frozenset(
    {"pv_power_w", "house_power_w", "wallbox_power_w", "battery_power_w", "voltage_v", "frequency_hz"}
)


@dataclass(frozen=True, slots=True)
class SavedState:
    """What survives a restart of the simulator (see :mod:`simulator.state_file`)."""

    energy: EnergyCounters
    phase_energy: tuple[EnergyCounters, EnergyCounters, EnergyCounters]
    battery_soc_pct: float | None


@dataclass(frozen=True, slots=True)
class HouseTruth:
    """The house's own consumption (no PV, battery or car), extra test loads included."""

    power_w: float
    phase_power_w: Phases
    phase_current_a: Phases


@dataclass(frozen=True, slots=True, kw_only=True)
class PlantTruth:
    """The whole plant as it really is at one instant, for a replay's trace."""

    house_w: float
    house_phase_a: Phases
    pv_available_w: float
    pv_w: float
    battery_w: float | None  # charge (+); None without a battery
    battery_soc_pct: float | None
    inverter_ac_w: dict[str, float]
    # All cars together (the plain scenario wallbox and the simulated ENECTORs), per grid phase.
    ev_w: float = 0.0
    ev_phase_a: Phases = (0.0, 0.0, 0.0)
    wallboxes: dict[str, WallboxTruth] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Powers:
    """Every power in the plant at one instant."""

    pv_w: float
    house: HouseLoad
    wallbox_w: Phases
    battery_w: float
    session: SessionKey | None  # while a car is plugged in
    inverters: tuple[InverterPowers, ...] = ()
    boxes: tuple[BoxNow, ...] = ()  # the simulated ENECTORs
    ev_w: Phases = (0.0, 0.0, 0.0)  # what they draw, per grid phase

    @property
    def cars_w(self) -> Phases:
        """Every car: the plain scenario wallbox and the ENECTORs, per grid phase."""
        plain, boxes = self.wallbox_w, self.ev_w
        return (plain[0] + boxes[0], plain[1] + boxes[1], plain[2] + boxes[2])

    @property
    def grid_active_w(self) -> Phases:
        share = (self.battery_w - self.pv_w) / 3.0
        house, wallbox = self.house.active_w, self.cars_w
        return (house[0] + wallbox[0] + share, house[1] + wallbox[1] + share, house[2] + wallbox[2] + share)

    @property
    def grid_reactive_var(self) -> Phases:
        # PV and battery inverters run at cos phi 1: only the loads draw reactive power.
        house, wallbox = self.house.reactive_var, self.cars_w
        return (
            house[0] + reactive_var(wallbox[0], WALLBOX_POWER_FACTOR),
            house[1] + reactive_var(wallbox[1], WALLBOX_POWER_FACTOR),
            house[2] + reactive_var(wallbox[2], WALLBOX_POWER_FACTOR),
        )

    def grid_groups(self) -> list[tuple[float, float, float]]:
        """(P, Q, S) for the total and then L1-L3; the total S is the sum of the phases' S."""
        phases = [(p, q, math.hypot(p, q)) for p, q in zip(self.grid_active_w, self.grid_reactive_var, strict=True)]
        total = (sum(g[0] for g in phases), sum(g[1] for g in phases), sum(g[2] for g in phases))
        return [total, *phases]


def _increments_wh(active_w: float, reactive_var_: float, apparent_va: float, duration_s: float) -> list[float]:
    """Counter increments in the order of EnergyCounters' fields; each is >= 0."""
    hours = duration_s / 3600.0
    importing = active_w >= 0.0
    return [
        active_w * hours if importing else 0.0,
        0.0 if importing else -active_w * hours,
        reactive_var_ * hours if reactive_var_ >= 0.0 else 0.0,
        0.0 if reactive_var_ >= 0.0 else -reactive_var_ * hours,
        # Apparent energy follows the direction of the active power, as the meter registers do.
        apparent_va * hours if importing else 0.0,
        0.0 if importing else apparent_va * hours,
    ]


def initial_state(seed: int, scenario: Scenario) -> SavedState:
    """Plausible counters of a meter that has been running for years, different per seed."""
    channel = noise.channel_id("meter.initial")
    imported = 800_000.0 + 1_600_000.0 * noise.unit(seed, channel, 0)
    exported = imported * (0.4 + 0.4 * noise.unit(seed, channel, 1))
    total = EnergyCounters(
        active_import_wh=round(imported, 1),
        active_export_wh=round(exported, 1),
        reactive_import_varh=round(imported * 0.25, 1),
        reactive_export_varh=round(exported * 0.05, 1),
        apparent_import_vah=round(imported * 1.05, 1),
        apparent_export_vah=round(exported * 1.01, 1),
    )
    # Per-phase counters do not net out across phases, so together they exceed the totals.
    phases = tuple(
        EnergyCounters(**{name: round(value * share * 1.02, 1) for name, value in total.as_dict().items()})
        for share in (0.40, 0.35, 0.25)
    )
    soc = scenario.battery.initial_soc_pct if scenario.battery else None
    return SavedState(total, (phases[0], phases[1], phases[2]), soc)


class PlantModel:
    """Deterministic virtual plant. All public methods are safe to call from several threads."""

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        seed: int = 1,
        start: dt.datetime | None = None,
        saved: SavedState | None = None,
    ) -> None:
        self.scenario = scenario or Scenario()
        self.seed = seed
        start = start or self.scenario.start
        if start is None:
            raise ValueError("the model needs a start time (argument or scenario 'start')")
        self._zone = self.scenario.zone
        self._pv = PvArray(
            seed,
            self.scenario.pv_peak_w,
            self.scenario.cloudiness,
            self.scenario.latitude_deg,
            self.scenario.longitude_deg,
        )
        self._pv_clear_sky = dataclasses.replace(self._pv, cloudiness=0.0, _cloud_cache={})
        self._house = Household(seed, self.scenario.house_base_w, self._zone)
        self._inverters = [SimInverter(config, self.scenario, seed) for config in self.scenario.inverters]
        self._inverter_index = {inverter.name: n for n, inverter in enumerate(self._inverters)}
        start_s = _timestamp(start)
        self._boxes = [SimEnector(box, self._zone, seed, start_s) for box in self.scenario.wallboxes]
        self._box_index = {box.name: n for n, box in enumerate(self._boxes)}
        # With inverters, their batteries are the plant's; the scenario-level one is not simulated.
        self._battery: BatteryConfig | None = None if self._inverters else self.scenario.battery
        self._cloud: tuple[float, float] | None = None  # (fraction blocked, until t_s)
        self._extra_house_w: Phases = (0.0, 0.0, 0.0)
        self._house_split: Phases | None = None  # shares of the house load per phase
        self._lock = threading.RLock()
        # _powers_at by time, valid until an input of the physics changes: any attribute set
        # here (see __setattr__) or a change inside an inverter, a box or the overrides.
        self._powers_memo: dict[float, _Powers] = {}
        self._overrides: dict[str, float] = {}
        self._forced_reading: MeterReading | None = None
        self.revision = 0
        saved = saved or initial_state(seed, self.scenario)
        # Integration state, valid at _anchor_s; readings at _t_s extrapolate from it linearly.
        self._anchor_s = _timestamp(start)
        self._t_s = self._anchor_s
        self._energy = [
            [getattr(counters, name) for name in _COUNTER_FIELDS] for counters in (saved.energy, *saved.phase_energy)
        ]
        battery = self._battery
        self._soc_pct: float | None = None
        if battery is not None:
            soc = saved.battery_soc_pct if saved.battery_soc_pct is not None else battery.initial_soc_pct
            self._soc_pct = min(max(soc, battery.min_soc_pct), battery.max_soc_pct)
        self._session: SessionKey | None = None
        self._session_charged_wh = 0.0
        self._anchor_powers = self._powers_at(self._anchor_s)
        for inverter, powers in zip(self._inverters, self._anchor_powers.inverters, strict=True):
            inverter.pv_out_w = powers.pv_w  # settled at the start
        self._powers_memo.clear()

    def __setattr__(self, name: str, value: object) -> None:
        memo = self.__dict__.get("_powers_memo")
        if memo:
            memo.clear()
        object.__setattr__(self, name, value)

    # --- time ----------------------------------------------------------------------------------
    @property
    def now(self) -> dt.datetime:
        with self._lock:
            return dt.datetime.fromtimestamp(self._t_s, dt.UTC)

    def advance(self, now: dt.datetime) -> None:
        """Integrate up to ``now``; a time before the current one changes nothing."""
        t_s = _timestamp(now)
        with self._lock:
            if t_s <= self._t_s:
                return
            anchored = False
            while (grid_s := (math.floor(self._anchor_s / INTEGRATION_STEP_S) + 1) * INTEGRATION_STEP_S) <= t_s:
                self._integrate(grid_s - self._anchor_s)
                self._anchor_s = grid_s
                self._anchor_powers = self._powers_at(grid_s)
                anchored = True
            self._t_s = t_s
            self.revision += 1
            if anchored:
                self._remember_anchor_powers()

    # --- what the devices report ---------------------------------------------------------------
    def reading(self) -> MeterReading:
        """The grid meter's measurement at the current time."""
        with self._lock:
            if self._forced_reading is not None:
                return self._forced_reading
            return self._reading(self._powers_at(self._t_s))

    def frequency_hz(self) -> float:
        """The grid frequency the meter reads now (``reading().frequency_hz`` without the rest)."""
        with self._lock:
            if self._forced_reading is not None:
                return self._forced_reading.frequency_hz
            return self._frequency_hz(self._t_s)

    def flow(self) -> FlowSummary:
        with self._lock:
            powers = self._powers_at(self._t_s)
            has_battery = self._battery is not None or any(i.config.battery for i in self._inverters)
            return FlowSummary(
                pv_power_w=powers.pv_w,
                battery_power_w=powers.battery_w if has_battery else None,
                battery_soc_pct=self._system_soc(powers) if has_battery else None,
                house_power_w=powers.house.total_w,
                wallbox_power_w=sum(powers.cars_w) if self.scenario.wallbox is not None or self._boxes else None,
            )

    def snapshot(self) -> tuple[MeterReading, FlowSummary]:
        """Reading and flow of the same instant."""
        with self._lock:
            return self.reading(), self.flow()

    def device_info(self) -> DeviceInfo:
        digits = int(noise.unit(self.seed, noise.channel_id("meter.serial"), 0) * 10_000_000)
        return DeviceInfo(
            manufacturer_id=0,
            product_id=0,
            product_version=2,
            firmware_version=206,
            vendor="KOSTAL",
            product="KSEM",
            serial=f"SIM{digits:07d}",
            measuring_interval_ms=MEASURING_INTERVAL_MS,
        )

    def saved_state(self) -> SavedState:
        with self._lock:
            reading = self._reading(self._powers_at(self._t_s))
            return SavedState(reading.energy, reading.phase_energy, self._soc_at(self._t_s))

    # --- test hooks ----------------------------------------------------------------------------
    def override(self, **values: float | None) -> None:
        """Pin plant values, e.g. ``override(pv_power_w=0, house_power_w=2500)``; ``None`` unpins.

        Keys: pv_power_w, house_power_w (spread like the base load), wallbox_power_w (over the
        wallbox's phases), battery_power_w (the SoC still follows it, within its limits),
        voltage_v (all phases), frequency_hz. The grid values follow from them.
        """
        unknown = set(values) - OVERRIDABLE
        if unknown:
            raise TypeError(f"cannot override {', '.join(sorted(unknown))}; known: {', '.join(sorted(OVERRIDABLE))}")
        if values.get("battery_power_w") is not None and self._battery is None:
            raise ValueError(
                "battery_power_w: the scenario has no battery"
                + (" (with inverters, write the inverter's battery setpoint)" if self._inverters else "")
            )
        if values.get("wallbox_power_w") is not None and self.scenario.wallbox is None:
            raise ValueError("wallbox_power_w: the scenario has no wallbox")
        with self._lock:
            self._commit()
            for name, value in values.items():
                if value is None:
                    self._overrides.pop(name, None)
                else:
                    self._overrides[name] = float(value)
            self._powers_memo.clear()
            self._anchor_powers = self._powers_at(self._anchor_s)
            self.revision += 1

    def clear_overrides(self) -> None:
        self.override(**dict.fromkeys(OVERRIDABLE))

    def set_battery_soc(self, soc_pct: float, inverter: str | None = None) -> None:
        """Set the SoC of the plant's battery, or of the named inverter's battery."""
        if inverter is not None:
            with self._lock:
                sim = self._inverter(inverter)
                battery = sim.battery
                if battery is None:
                    raise ValueError(f"battery_soc_pct: inverter {inverter!r} has no battery")
                self._commit()
                sim.soc_pct = min(max(float(soc_pct), battery.min_soc_pct), battery.max_soc_pct)
                self._powers_memo.clear()
                self._anchor_powers = self._powers_at(self._anchor_s)
                self.revision += 1
            return
        battery = self._battery
        if battery is None:
            raise ValueError("battery_soc_pct: the scenario has no battery")
        with self._lock:
            self._commit()
            self._soc_pct = min(max(float(soc_pct), battery.min_soc_pct), battery.max_soc_pct)
            self._anchor_powers = self._powers_at(self._anchor_s)
            self.revision += 1

    def force_reading(self, reading: MeterReading | None) -> None:
        """Serve exactly ``reading`` from now on (``None``: back to the physics).

        The physics keeps integrating underneath, so its counters reappear afterwards.
        """
        with self._lock:
            self._forced_reading = reading
            self.revision += 1

    # --- inverters, house and sky: hooks for tests and the replay --------------------------------
    @property
    def inverter_names(self) -> tuple[str, ...]:
        return tuple(inverter.name for inverter in self._inverters)

    def inverter_config(self, name: str) -> InverterScenario:
        return self._inverter(name).config

    def inverter_outputs(self) -> dict[str, InverterTruth]:
        """What every inverter really does now: AC, PV (available and delivered), limit, battery."""
        with self._lock:
            powers = self._powers_at(self._t_s)
            elapsed_s = self._t_s - self._anchor_s
            anchor = self._anchor_powers.inverters
            return {
                inverter.name: truth(inverter, now, inverter.soc_at(elapsed_s, at_anchor.battery_w), self._t_s)
                for inverter, now, at_anchor in zip(self._inverters, powers.inverters, anchor, strict=True)
            }

    def inverter_output(self, name: str) -> InverterTruth:
        """``inverter_outputs()[name]`` without the other inverters' truths (a register image
        needs only its own inverter's); ``KeyError`` for an unknown name."""
        with self._lock:
            n = self._inverter_index[name]
            inverter = self._inverters[n]
            now = self._powers_at(self._t_s).inverters[n]
            soc = inverter.soc_at(self._t_s - self._anchor_s, self._anchor_powers.inverters[n].battery_w)
            return truth(inverter, now, soc, self._t_s)

    def pv_available_w(self) -> float:
        """What all PV could deliver now with no limit (clouds included)."""
        with self._lock:
            if self._inverters:
                return sum(self._inverter_available_w(self._t_s))
            if "pv_power_w" in self._overrides:
                return self._overrides["pv_power_w"]
            return self._pv_available_at(self._t_s)

    def house_truth(self) -> HouseTruth:
        """The house's consumption now (extra phase loads included; no PV, battery or car)."""
        with self._lock:
            house = self._powers_at(self._t_s).house
            currents = []
            for phase in _PHASE_RANGE:
                apparent_va = math.hypot(house.active_w[phase], house.reactive_var[phase])
                voltage_v = self._voltage_v(phase, self._t_s)
                currents.append(apparent_va / voltage_v if voltage_v > 0 else 0.0)
            return HouseTruth(house.total_w, house.active_w, (currents[0], currents[1], currents[2]))

    def add_house_phase_load(self, w_l1: float = 0.0, w_l2: float = 0.0, w_l3: float = 0.0) -> None:
        """Switch on an extra load (cos phi 1) per phase on top of the house, from now on."""
        with self._lock:
            self._change(lambda: self._add_extra((w_l1, w_l2, w_l3)))

    def clear_house_phase_load(self) -> None:
        self.set_extra_house_load(None)

    def set_extra_house_load(self, phases: Phases | None) -> None:
        """Replace the extra per-phase load (W on L1, L2, L3); ``None`` switches it off."""
        value = (0.0, 0.0, 0.0) if phases is None else (float(phases[0]), float(phases[1]), float(phases[2]))
        with self._lock:
            self._change(lambda: setattr(self, "_extra_house_w", value))

    def set_house_phase_split(self, shares: Phases | None) -> None:
        """Spread the house's own load over the phases in these shares (normalised); ``None``
        goes back to the household's wiring (base load 40/35/25 %, appliances on their phase)."""
        value: Phases | None = None
        if shares is not None:
            total = sum(shares)
            if total <= 0 or any(share < 0 for share in shares):
                raise ValueError(f"phase shares must be non-negative with a positive sum, got {shares}")
            value = (shares[0] / total, shares[1] / total, shares[2] / total)
        with self._lock:
            self._change(lambda: setattr(self, "_house_split", value))

    def truth(self) -> PlantTruth:
        """House, PV, battery and each inverter's output as they really are now."""
        with self._lock:
            powers = self._powers_at(self._t_s)
            house = self.house_truth()
            flow = self.flow()
            return PlantTruth(
                house_w=house.power_w,
                house_phase_a=house.phase_current_a,
                pv_available_w=self.pv_available_w(),
                pv_w=powers.pv_w,
                battery_w=flow.battery_power_w,
                battery_soc_pct=flow.battery_soc_pct,
                inverter_ac_w={name: out.ac_power_w for name, out in self.inverter_outputs().items()},
                ev_w=sum(powers.cars_w),
                ev_phase_a=(
                    powers.cars_w[0] / NOMINAL_VOLTAGE_V,
                    powers.cars_w[1] / NOMINAL_VOLTAGE_V,
                    powers.cars_w[2] / NOMINAL_VOLTAGE_V,
                ),
                wallboxes=self._wallbox_truths(powers),
            )

    def set_cloud(self, fraction: float, until: dt.datetime) -> None:
        """A cloud blocking ``fraction`` of the clear-sky PV from now until ``until``, in place of
        the scenario's clouds (which return afterwards)."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"cloud fraction must be between 0 and 1, got {fraction}")
        until_s = _timestamp(until)
        with self._lock:
            self._change(lambda: setattr(self, "_cloud", (float(fraction), until_s)))

    def clear_cloud(self) -> None:
        with self._lock:
            self._change(lambda: setattr(self, "_cloud", None))

    def write_inverter_limit(self, name: str, limit_pct: float | None, *, enabled: bool | None = True) -> None:
        """A write of the active-power limit (% of max AC) reaching the inverter now."""
        with self._lock:
            inverter = self._inverter(name)
            self._change(lambda: inverter.write_limit(self._t_s, limit_pct, enabled))

    def write_inverter_battery(self, name: str, power_w: float | None) -> None:
        """A battery setpoint (charge +, discharge -) reaching the inverter now; ``None`` hands
        the battery back to the inverter's own control."""
        with self._lock:
            inverter = self._inverter(name)
            self._change(lambda: inverter.write_battery(self._t_s, power_w))

    def write_inverter_battery_limits(
        self,
        name: str,
        *,
        max_charge_w: float | None = None,
        max_discharge_w: float | None = None,
        min_soc_pct: float | None = None,
        max_soc_pct: float | None = None,
    ) -> None:
        with self._lock:
            inverter = self._inverter(name)
            self._change(lambda: inverter.write_battery_limits(max_charge_w, max_discharge_w, min_soc_pct, max_soc_pct))

    # --- wallboxes (simulated ENECTORs) ---------------------------------------------------------
    @property
    def wallbox_names(self) -> tuple[str, ...]:
        return tuple(box.name for box in self._boxes)

    def wallbox_config(self, name: str) -> WallboxScenario:
        return self._box(name).config

    def wallbox_address(self, name: str) -> int:
        """The Modbus address the box answers at now (50 from the factory)."""
        with self._lock:
            return self._box(name).address

    def wallbox_image(self, name: str) -> dict[int, int]:
        """Every readable register of the box at the current time."""
        with self._lock:
            box = self._box(name)
            now = box.at(self._t_s)
            rotation = ROTATIONS[box.config.rotation]
            voltages = tuple(self._voltage_v(grid_phase, self._t_s) for grid_phase in rotation)
            return box.image(self._t_s, now, (voltages[0], voltages[1], voltages[2]))

    def wallbox_write(self, name: str, address: int, words: Sequence[int]) -> None:
        """A register write reaching the box now; ``simulator.enector_rtu.ModbusReply`` if refused."""
        with self._lock:
            box = self._box(name)
            self._change(lambda: box.write(self._t_s, address, words))

    def wallbox_truths(self) -> dict[str, WallboxTruth]:
        """Every simulated box as it really is now: state, currents per grid phase, car, SoC."""
        with self._lock:
            return self._wallbox_truths(self._powers_at(self._t_s))

    def wallbox_writes(self, name: str) -> list[WriteRecord]:
        """The latest writes that reached the box (simulated and wall time of each)."""
        with self._lock:
            return list(self._box(name).writes)

    def plug_car(self, name: str, car: CarScenario | None = None) -> None:
        """Plug a vehicle into the box now (default: its first scheduled car); the schedule is
        ignored until :meth:`follow_car_schedule`."""
        with self._lock:
            box = self._box(name)
            self._change(lambda: box.plug(car))

    def unplug_car(self, name: str) -> None:
        with self._lock:
            box = self._box(name)
            self._change(box.unplug)

    def follow_car_schedule(self, name: str) -> None:
        with self._lock:
            box = self._box(name)
            self._change(box.follow_schedule)

    def _box(self, name: str) -> SimEnector:
        try:
            return self._boxes[self._box_index[name]]
        except KeyError:
            known = ", ".join(self._box_index) or "none"
            raise KeyError(f"no wallbox {name!r}; known: {known}") from None

    def _wallbox_truths(self, powers: _Powers) -> dict[str, WallboxTruth]:
        return {box.name: box.truth(self._t_s, now) for box, now in zip(self._boxes, powers.boxes, strict=True)}

    def _inverter(self, name: str) -> SimInverter:
        try:
            return self._inverters[self._inverter_index[name]]
        except KeyError:
            known = ", ".join(self._inverter_index) or "none"
            raise KeyError(f"no inverter {name!r}; known: {known}") from None

    def _add_extra(self, phases: Phases) -> None:
        extra = self._extra_house_w
        self._extra_house_w = (extra[0] + phases[0], extra[1] + phases[1], extra[2] + phases[2])

    def _change(self, apply: Callable[[], object]) -> None:
        """Change an input of the physics at the current time (call with the lock held)."""
        self._commit()
        apply()
        self._powers_memo.clear()
        self._anchor_powers = self._powers_at(self._anchor_s)
        self.revision += 1
        self._remember_anchor_powers()

    def _remember_anchor_powers(self) -> None:
        """Keep the anchor's powers, just computed from the current inputs, in the memo that
        setting ``_anchor_powers`` (and ``revision``) cleared: the readers at the anchor time
        (every cycle's first read comes right after a whole-second step) need not evaluate the
        physics again. At the anchor time itself the previous anchor's powers play no part
        (elapsed 0 in :meth:`_inverter_powers_at`, :meth:`_wallbox_at` and :meth:`_soc_at`),
        so these are exactly the powers :meth:`_physics_at` would give now."""
        self._powers_memo[self._anchor_s] = self._anchor_powers

    # --- internals -----------------------------------------------------------------------------
    def _commit(self) -> None:
        """Move the integration state to the current time, before its inputs change."""
        if self._t_s > self._anchor_s:
            self._integrate(self._t_s - self._anchor_s)
            self._anchor_s = self._t_s

    def _integrate(self, duration_s: float) -> None:
        powers = self._anchor_powers
        # The inverters' lagging outputs at the end of the step, before the anchor moves on.
        end = self._powers_at(self._anchor_s + duration_s).inverters if self._inverters else ()
        for inverter, at_anchor, at_end in zip(self._inverters, powers.inverters, end, strict=True):
            inverter.soc_pct = inverter.soc_at(duration_s, at_anchor.battery_w)
            inverter.pv_out_w = at_end.pv_w
            inverter.energy_wh += max(at_anchor.ac_w, 0.0) * duration_s / 3600.0
        for counters, group in zip(self._energy, powers.grid_groups(), strict=True):
            for index, increment in enumerate(_increments_wh(*group, duration_s)):
                counters[index] += increment
        self._soc_pct = self._soc_after(powers.battery_w, duration_s)
        if powers.session != self._session:
            self._session, self._session_charged_wh = powers.session, 0.0
        self._session_charged_wh += sum(powers.wallbox_w) * duration_s / 3600.0
        for box, now in zip(self._boxes, powers.boxes, strict=True):
            box.integrate(self._anchor_s, duration_s, now)
        self._powers_memo.clear()

    def _soc_after(self, battery_w: float, duration_s: float) -> float | None:
        battery = self._battery
        if battery is None or self._soc_pct is None:
            return None
        return home_battery.soc_after(battery, self._soc_pct, battery_w, duration_s)

    def _soc_at(self, t_s: float) -> float | None:
        if t_s <= self._anchor_s:
            return self._soc_pct
        return self._soc_after(self._anchor_powers.battery_w, t_s - self._anchor_s)

    def _powers_at(self, t_s: float) -> _Powers:
        powers = self._powers_memo.get(t_s)
        if powers is None:
            powers = self._powers_memo[t_s] = self._physics_at(t_s)
        return powers

    def _physics_at(self, t_s: float) -> _Powers:
        forced = self._overrides
        house = split_base(forced["house_power_w"]) if "house_power_w" in forced else self._house.load(t_s)
        house = self._with_extra_load(house)
        session, wallbox_total_w = self._wallbox_at(t_s)
        if "wallbox_power_w" in forced:
            wallbox_total_w = forced["wallbox_power_w"]
        wallbox_w = car_charging.phase_split(self.scenario.wallbox, wallbox_total_w)
        boxes = tuple(box.at(t_s) for box in self._boxes)
        ev_w: Phases = (0.0, 0.0, 0.0)
        for box, now in zip(self._boxes, boxes, strict=True):
            box_w = box.grid_power_w(now)
            ev_w = (ev_w[0] + box_w[0], ev_w[1] + box_w[1], ev_w[2] + box_w[2])
        cars_total_w = wallbox_total_w + sum(ev_w)
        if self._inverters:
            inverters = self._inverter_powers_at(t_s, house.total_w, cars_total_w)
            pv_w = sum(p.pv_w for p in inverters)
            battery_w = sum(p.battery_w for p in inverters)
            return _Powers(pv_w, house, wallbox_w, battery_w, session, inverters, boxes, ev_w)
        pv_w = forced["pv_power_w"] if "pv_power_w" in forced else self._pv_available_at(t_s)
        battery_w = 0.0
        soc = self._soc_at(t_s)
        if "battery_power_w" in forced:
            battery_w = forced["battery_power_w"]
        elif self._battery is not None and soc is not None:
            battery_w = home_battery.hybrid_battery_power_w(self._battery, soc, pv_w, house.total_w, cars_total_w)
        return _Powers(pv_w, house, wallbox_w, battery_w, session, (), boxes, ev_w)

    def _pv_available_at(self, t_s: float) -> float:
        """The scenario-level PV array (meter-only plant), with a test's cloud if one is set."""
        cloud = self._cloud
        if cloud is not None and t_s < cloud[1]:
            return self._pv_clear_sky.power_w(t_s) * (1.0 - cloud[0])
        return self._pv.power_w(t_s)

    def _with_extra_load(self, house: HouseLoad) -> HouseLoad:
        split = self._house_split
        if split is not None:
            active_w, reactive = house.total_w, sum(house.reactive_var)
            house = HouseLoad(
                (active_w * split[0], active_w * split[1], active_w * split[2]),
                (reactive * split[0], reactive * split[1], reactive * split[2]),
            )
        extra = self._extra_house_w
        if extra == (0.0, 0.0, 0.0):
            return house
        active = house.active_w
        return HouseLoad((active[0] + extra[0], active[1] + extra[1], active[2] + extra[2]), house.reactive_var)

    def _inverter_available_w(self, t_s: float) -> list[float]:
        if "pv_power_w" in self._overrides:
            # A pinned plant PV power is shared by the inverters in proportion to their arrays.
            total_peak_w = sum(i.config.pv_peak_w for i in self._inverters)
            pinned_w = self._overrides["pv_power_w"]
            return [pinned_w * i.config.pv_peak_w / total_peak_w if total_peak_w else 0.0 for i in self._inverters]
        return [inverter.available_w(t_s, self._cloud) for inverter in self._inverters]

    def _inverter_powers_at(self, t_s: float, house_w: float, wallbox_w: float) -> tuple[InverterPowers, ...]:
        elapsed_s = max(0.0, t_s - self._anchor_s)
        available = self._inverter_available_w(t_s)
        anchor = self._anchor_powers.inverters if elapsed_s > 0 else ()
        socs = [
            inverter.soc_at(elapsed_s, anchor[n].battery_w if anchor else 0.0)
            for n, inverter in enumerate(self._inverters)
        ]
        expected_pv_w = sum(
            min(avail, inverter.config.max_ac_w * inverter.limit_at(t_s) / 100.0)
            for inverter, avail in zip(self._inverters, available, strict=True)
        )
        batteries = decide_batteries(self._inverters, t_s, socs, expected_pv_w, house_w, wallbox_w)
        return tuple(
            inverter.powers(t_s, elapsed_s, avail, battery_w, control)
            for inverter, avail, (battery_w, control) in zip(self._inverters, available, batteries, strict=True)
        )

    def _system_soc(self, powers: _Powers) -> float | None:
        if not self._inverters:
            return self._soc_at(self._t_s)
        elapsed_s = self._t_s - self._anchor_s
        anchor = self._anchor_powers.inverters
        stored_wh = capacity_wh = 0.0
        for inverter, at_anchor in zip(self._inverters, anchor, strict=True):
            battery, soc = inverter.battery, inverter.soc_at(elapsed_s, at_anchor.battery_w)
            if battery is not None and soc is not None:
                stored_wh += battery.capacity_wh * soc / 100.0
                capacity_wh += battery.capacity_wh
        return stored_wh / capacity_wh * 100.0 if capacity_wh else None

    def _wallbox_at(self, t_s: float) -> tuple[SessionKey | None, float]:
        """(session, charging power) of the car plugged in at ``t_s``: full power until it is full."""
        wallbox = self.scenario.wallbox
        plugged = car_charging.plugged_session(wallbox, self._zone, t_s) if wallbox is not None else None
        if wallbox is None or plugged is None:
            return None, 0.0
        key, session = plugged
        charged_wh = self._session_charged_wh if key == self._session else 0.0
        if t_s > self._anchor_s and key == self._anchor_powers.session:
            charged_wh += sum(self._anchor_powers.wallbox_w) * (t_s - self._anchor_s) / 3600.0
        needed_wh = car_charging.energy_needed_wh(self.seed, session, key)
        return key, (wallbox.max_power_w if charged_wh < needed_wh else 0.0)

    def _voltage_v(self, phase: int, t_s: float) -> float:
        if "voltage_v" in self._overrides:
            return self._overrides["voltage_v"]
        return NOMINAL_VOLTAGE_V + VOLTAGE_SPREAD_V * noise.smooth(self.seed, _VOLTAGE + phase, t_s, _VOLTAGE_PERIOD_S)

    def _frequency_hz(self, t_s: float) -> float:
        if "frequency_hz" in self._overrides:
            return self._overrides["frequency_hz"]
        spread = FREQUENCY_SPREAD_HZ * noise.smooth(self.seed, _FREQUENCY, t_s, _FREQUENCY_PERIOD_S)
        return NOMINAL_FREQUENCY_HZ + spread

    def _counters_at(self, t_s: float) -> list[EnergyCounters]:
        elapsed_s = t_s - self._anchor_s
        counters = []
        for energy, group in zip(self._energy, self._anchor_powers.grid_groups(), strict=True):
            increments = _increments_wh(*group, elapsed_s) if elapsed_s > 0 else [0.0] * len(energy)
            counters.append(EnergyCounters(*(value + inc for value, inc in zip(energy, increments, strict=True))))
        return counters

    def _reading(self, powers: _Powers) -> MeterReading:
        t_s = self._t_s
        total, *phase_groups = powers.grid_groups()
        phases = []
        for phase, (active_w, reactive, apparent_va) in zip(_PHASE_RANGE, phase_groups, strict=True):
            voltage_v = self._voltage_v(phase, t_s)
            phases.append(
                PhaseReading(
                    voltage_v=voltage_v,
                    current_a=apparent_va / voltage_v if voltage_v > 0 else 0.0,
                    active_power_w=active_w,
                    reactive_power_var=reactive,
                    apparent_power_va=apparent_va,
                    power_factor=_power_factor(active_w, apparent_va),
                )
            )
        energy, *phase_energy = self._counters_at(t_s)
        return MeterReading(
            active_power_w=total[0],
            reactive_power_var=total[1],
            apparent_power_va=total[2],
            power_factor=_power_factor(total[0], total[2]),
            frequency_hz=self._frequency_hz(t_s),
            phases=(phases[0], phases[1], phases[2]),
            energy=energy,
            phase_energy=(phase_energy[0], phase_energy[1], phase_energy[2]),
        )


def _power_factor(active_w: float, apparent_va: float) -> float:
    """cos phi signed like the active power (negative while feeding in); 1 with no load."""
    return active_w / apparent_va if apparent_va > 1e-9 else 1.0


def _timestamp(moment: dt.datetime) -> float:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"simulated time must be timezone-aware, got {moment!r}")
    return moment.timestamp()


_VOLTAGE = noise.channel_id("meter.voltage")
_FREQUENCY = noise.channel_id("meter.frequency")
