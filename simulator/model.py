"""The virtual plant behind the grid meter: PV, house, battery, wallbox and the meter's view.

Pure physics: no sockets, no wall clock. Simulated time comes in through :meth:`PlantModel.advance`
as a timezone-aware datetime. Everything that is not integration state (sun, clouds, appliances,
noise on voltage and frequency) is a function of (seed, scenario, t) alone; the integration state
(energy counters, battery SoC, energy charged into the car) advances on a fixed grid of whole
simulated seconds. So the values at a time t do not depend on how often the model was sampled,
only on t and on any overrides a test applied.

Sign conventions as in :mod:`plant.state`: grid purchase (+) / feed-in (-), battery charge (+) /
discharge (-). grid = house + wallbox + battery - pv, per phase and in total.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading
from dataclasses import dataclass

from plant.state import DeviceInfo, EnergyCounters, FlowSummary, MeterReading, PhaseReading
from simulator import car_charging, home_battery, noise
from simulator.car_charging import SessionKey
from simulator.house import Household, HouseLoad, Phases, reactive_var, split_base
from simulator.pv import PvArray
from simulator.scenario import Scenario

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
class _Powers:
    """Every power in the plant at one instant."""

    pv_w: float
    house: HouseLoad
    wallbox_w: Phases
    battery_w: float
    session: SessionKey | None  # while a car is plugged in

    @property
    def grid_active_w(self) -> Phases:
        share = (self.battery_w - self.pv_w) / 3.0
        house, wallbox = self.house.active_w, self.wallbox_w
        return (house[0] + wallbox[0] + share, house[1] + wallbox[1] + share, house[2] + wallbox[2] + share)

    @property
    def grid_reactive_var(self) -> Phases:
        # PV and battery inverters run at cos phi 1: only the loads draw reactive power.
        house, wallbox = self.house.reactive_var, self.wallbox_w
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
        self._house = Household(seed, self.scenario.house_base_w, self._zone)
        self._lock = threading.RLock()
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
        battery = self.scenario.battery
        self._soc_pct: float | None = None
        if battery is not None:
            soc = saved.battery_soc_pct if saved.battery_soc_pct is not None else battery.initial_soc_pct
            self._soc_pct = min(max(soc, battery.min_soc_pct), battery.max_soc_pct)
        self._session: SessionKey | None = None
        self._session_charged_wh = 0.0
        self._anchor_powers = self._powers_at(self._anchor_s)

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
            while (grid_s := (math.floor(self._anchor_s / INTEGRATION_STEP_S) + 1) * INTEGRATION_STEP_S) <= t_s:
                self._integrate(grid_s - self._anchor_s)
                self._anchor_s = grid_s
                self._anchor_powers = self._powers_at(grid_s)
            self._t_s = t_s
            self.revision += 1

    # --- what the devices report ---------------------------------------------------------------
    def reading(self) -> MeterReading:
        """The grid meter's measurement at the current time."""
        with self._lock:
            if self._forced_reading is not None:
                return self._forced_reading
            return self._reading(self._powers_at(self._t_s))

    def flow(self) -> FlowSummary:
        with self._lock:
            powers = self._powers_at(self._t_s)
            has_battery = self.scenario.battery is not None
            return FlowSummary(
                pv_power_w=powers.pv_w,
                battery_power_w=powers.battery_w if has_battery else None,
                battery_soc_pct=self._soc_at(self._t_s) if has_battery else None,
                house_power_w=powers.house.total_w,
                wallbox_power_w=sum(powers.wallbox_w) if self.scenario.wallbox is not None else None,
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
        if values.get("battery_power_w") is not None and self.scenario.battery is None:
            raise ValueError("battery_power_w: the scenario has no battery")
        if values.get("wallbox_power_w") is not None and self.scenario.wallbox is None:
            raise ValueError("wallbox_power_w: the scenario has no wallbox")
        with self._lock:
            self._commit()
            for name, value in values.items():
                if value is None:
                    self._overrides.pop(name, None)
                else:
                    self._overrides[name] = float(value)
            self._anchor_powers = self._powers_at(self._anchor_s)
            self.revision += 1

    def clear_overrides(self) -> None:
        self.override(**dict.fromkeys(OVERRIDABLE))

    def set_battery_soc(self, soc_pct: float) -> None:
        battery = self.scenario.battery
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

    # --- internals -----------------------------------------------------------------------------
    def _commit(self) -> None:
        """Move the integration state to the current time, before its inputs change."""
        if self._t_s > self._anchor_s:
            self._integrate(self._t_s - self._anchor_s)
            self._anchor_s = self._t_s

    def _integrate(self, duration_s: float) -> None:
        powers = self._anchor_powers
        for counters, group in zip(self._energy, powers.grid_groups(), strict=True):
            for index, increment in enumerate(_increments_wh(*group, duration_s)):
                counters[index] += increment
        self._soc_pct = self._soc_after(powers.battery_w, duration_s)
        if powers.session != self._session:
            self._session, self._session_charged_wh = powers.session, 0.0
        self._session_charged_wh += sum(powers.wallbox_w) * duration_s / 3600.0

    def _soc_after(self, battery_w: float, duration_s: float) -> float | None:
        battery = self.scenario.battery
        if battery is None or self._soc_pct is None:
            return None
        return home_battery.soc_after(battery, self._soc_pct, battery_w, duration_s)

    def _soc_at(self, t_s: float) -> float | None:
        if t_s <= self._anchor_s:
            return self._soc_pct
        return self._soc_after(self._anchor_powers.battery_w, t_s - self._anchor_s)

    def _powers_at(self, t_s: float) -> _Powers:
        forced = self._overrides
        pv_w = forced["pv_power_w"] if "pv_power_w" in forced else self._pv.power_w(t_s)
        house = split_base(forced["house_power_w"]) if "house_power_w" in forced else self._house.load(t_s)
        session, wallbox_total_w = self._wallbox_at(t_s)
        if "wallbox_power_w" in forced:
            wallbox_total_w = forced["wallbox_power_w"]
        battery_w = 0.0
        soc = self._soc_at(t_s)
        if "battery_power_w" in forced:
            battery_w = forced["battery_power_w"]
        elif self.scenario.battery is not None and soc is not None:
            battery_w = home_battery.hybrid_battery_power_w(
                self.scenario.battery, soc, pv_w, house.total_w, wallbox_total_w
            )
        wallbox_w = car_charging.phase_split(self.scenario.wallbox, wallbox_total_w)
        return _Powers(pv_w, house, wallbox_w, battery_w, session)

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
