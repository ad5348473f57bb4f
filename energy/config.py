"""A plant's settings as immutable values: what the cycle, its drivers and controllers get.

Loaded from the database by ``plant.config``; built directly by tests and the replay.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from energy.chargeplan import PlanSettings
from energy.forecast import Forecast
from energy.gridlimit import Facts
from energy.state import WallboxCommand

# Inverter types (INV-1) as the product and the replay's scenario files name them.
PLENTICORE = "plenticore"
PLENTICORE_BI = "plenticore_bi"
PIKO_IQ = "piko_iq"
PIKO_EPC = "piko_epc"
PIKO_CI = "piko_ci"
PIKO_MP_PLUS = "piko_mp_plus"
INVERTER_TYPES = (PLENTICORE, PLENTICORE_BI, PIKO_IQ, PIKO_EPC, PIKO_CI, PIKO_MP_PLUS)
# Never written by the product: its limit is set in the inverter itself (INV-3).
MONITORED_ONLY_TYPES = frozenset({PIKO_CI})
# Speak KOSTAL's own Modbus map (port 1502, unit 71); the others speak SunSpec.
KOSTAL_MAP_TYPES = frozenset({PLENTICORE, PLENTICORE_BI, PIKO_IQ})

# A 1 s control cycle cannot wait longer than this for any one device.
MAX_TIMEOUT_S = 2.0

# Setpoint quantities the inverter drivers take.
ACTIVE_POWER_LIMIT_PCT = "active_power_limit_pct"  # % of the inverter's maximum AC power
BATTERY_POWER_W = "battery_power_w"  # charge (+) / discharge (-)

GRID_POSITION = "grid"
HOME_POSITION = "home"

# --- wallboxes (WB-1 .. WB-15) -------------------------------------------------------------
# ENECTOR types as the product and the replay's scenario files name them.
ENECTOR_11 = "enector_11"  # AC 3.7/11: 1- or 3-phase, up to 16 A per phase
ENECTOR_3_7 = "enector_3_7"  # AC 3.7/11 set to 3.7 kW: 1-phase, 16 A
ENECTOR_7_4 = "enector_7_4"  # AC 7.4: 1-phase, up to 32 A
WALLBOX_TYPES = (ENECTOR_11, ENECTOR_3_7, ENECTOR_7_4)
# What each type can do at most: (phases, current per phase in A).
WALLBOX_LIMITS: dict[str, tuple[int, float]] = {ENECTOR_11: (3, 16.0), ENECTOR_3_7: (1, 16.0), ENECTOR_7_4: (1, 32.0)}
# A new box answers at 50; the product moves it to 100 (+ n for further boxes on the line).
WALLBOX_FACTORY_ADDRESS = 50
WALLBOX_ADDRESS = 100

# Charging modes (WB-5). TIME_MODE picks one of the others per weekday hour.
LOCK = "lock"
POWER = "power"
SOLAR_PURE = "solar_pure"
SOLAR_PLUS = "solar_plus"
TIME_MODE = "time_mode"
CHARGING_MODES = (LOCK, POWER, SOLAR_PURE, SOLAR_PLUS, TIME_MODE)
HOURLY_MODES = (LOCK, POWER, SOLAR_PURE, SOLAR_PLUS)
# WB-7: the modes with a house battery setting of their own (Lock charges nothing; Time Mode uses
# the setting of the mode it gives each hour).
BATTERY_USE_MODES = (POWER, SOLAR_PURE, SOLAR_PLUS)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Phase usage (WB-4): standard = up to three phases, single = 1-phase, auto = switch as PV allows.
PHASES_STANDARD = "standard"
PHASES_SINGLE = "single"
PHASES_AUTO = "auto"
PHASE_USAGES = (PHASES_STANDARD, PHASES_SINGLE, PHASES_AUTO)

# Phase rotation of a box: which grid phase its L1, L2, L3 are wired to (WB-2).
ROTATIONS: dict[str, tuple[int, int, int]] = {"L1L2L3": (0, 1, 2), "L2L3L1": (1, 2, 0), "L3L1L2": (2, 0, 1)}

# Solar Plus start power (WB-5): a share of the vehicle's power range.
SOLAR_PLUS_STARTS = ("min", "50", "75", "max")

# Setpoint quantities the wallbox driver takes.
CHARGING_CURRENT_A = "charging_current_a"  # per phase; 0 = paused (release withdrawn)
CHARGING_PHASES = "charging_phases"  # 1 or 3; the driver switches only while not charging

NOMINAL_VOLTAGE_V = 230.0

# MB-2: a wallbox command written over Modbus holds this long unless written again; then the
# boxes' own modes take over (a client that stops refreshing must not hold the boxes forever).
WALLBOX_COMMAND_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class KsemTcpConfig:
    host: str
    port: int
    unit_id: int = 1
    timeout_s: float = 0.5
    read_flow_summary: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Sdm630Config:
    """An Eastron SDM630 on Modbus RTU: a serial device or an RTU-over-TCP URL (``socket://host:port``).

    Defaults are the meter's factory settings: address 1, 9600 8N1.
    """

    port: str
    unit_id: int = 1
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    timeout_s: float = 0.5


MeterConfig = KsemTcpConfig | Sdm630Config


@dataclass(frozen=True, slots=True, kw_only=True)
class SerialConfig:
    """An RS485 line: a serial device (``/dev/ttyUSB0``) or an RTU-over-TCP serial server."""

    port: str
    baudrate: int = 19200
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class HouseBatteryConfig:
    """A battery behind an inverter: capacity and power from its type and module count (INV-5)."""

    type: str
    modules: int
    capacity_wh: float
    max_charge_w: float
    max_discharge_w: float


@dataclass(frozen=True, slots=True, kw_only=True)
class InverterConfig:
    """One inverter: reached over TCP (``host``/``port``/``unit_id``) or on an RS485 line."""

    name: str
    type: str
    max_ac_w: float
    host: str = ""
    port: int = 1502
    unit_id: int = 71
    serial: SerialConfig | None = None
    timeout_s: float = 1.0
    battery: HouseBatteryConfig | None = None

    @property
    def controllable(self) -> bool:
        return self.type not in MONITORED_ONLY_TYPES


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedInLimitSettings:
    """Feed-in limitation (INV-4); ``limit_w`` already converted from % of generator power."""

    enabled: bool = False
    limit_w: float = 0.0
    # How fast a released limit may rise again, in % of each inverter's power per second.
    release_ramp_pct_per_s: float = 10.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryManagementSettings:
    """Battery management of a PIKO MP plus battery (INV-5)."""

    enabled: bool = False
    min_soc_pct: float = 5.0
    max_soc_pct: float = 100.0
    # Grid-optimised charging (issue 19, energy.batteryplan): acts only with a feed-in limit and a
    # forecast; off = charging from all surplus as before. The deadline is local time.
    grid_optimised: bool = True
    full_by: dt.time = dt.time(16, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class GridOperatorLimits:
    """Limits a grid operator sent (LPC on purchase, LPP on feed-in), in W; ``None`` = none."""

    lpc_w: float | None = None
    lpp_w: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MainsConfig:
    """The grid connection (WB-8, WB-9): phases, the smallest fuse in the path per phase, and
    the largest allowed difference between phase loads caused by charging."""

    phases: int = 3
    fuse_a: float = 35.0
    unbalance_limit_va: float = 4600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SolarPlusSettings:
    start_power: str = "min"  # one of SOLAR_PLUS_STARTS
    min_solar_share_pct: float = 50.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryUse:
    """WB-7, per charging mode: ``True`` lets the vehicle drain the house battery down to its
    minimum SoC; ``False`` keeps the battery out of charging except to bridge the cloud hysteresis
    (see ``wallbox.modes`` and ``wallbox.solar``)."""

    power: bool = False
    solar_pure: bool = False
    solar_plus: bool = False

    @classmethod
    def every_mode(cls, use: bool) -> BatteryUse:
        """The same setting in all three modes (the one checkbox of older settings)."""
        return cls(power=use, solar_pure=use, solar_plus=use)

    def in_mode(self, mode: str) -> bool:
        """The setting of ``mode`` (an hourly mode, as Time Mode resolves it); Lock uses nothing."""
        return bool(getattr(self, mode)) if mode in BATTERY_USE_MODES else False


@dataclass(frozen=True, slots=True, kw_only=True)
class WallboxConfig:
    """One ENECTOR on an RS485 line (``serial.port`` a device or ``socket://host:port``).

    ``time_mode`` is 7 weekdays (Monday first) of 24 hourly modes, each one of HOURLY_MODES,
    in the plant's local time; it is in force while ``mode`` is TIME_MODE.
    """

    name: str
    type: str = ENECTOR_11
    serial: SerialConfig | None = None
    address: int = WALLBOX_ADDRESS
    rotation: str = "L1L2L3"
    phase_usage: str = PHASES_STANDARD
    mode: str = POWER
    battery_use: BatteryUse = field(default_factory=BatteryUse)
    min_current_a: float = 6.0
    solar_plus: SolarPlusSettings = field(default_factory=SolarPlusSettings)
    time_mode: tuple[tuple[str, ...], ...] = tuple((POWER,) * 24 for _ in WEEKDAYS)
    # Paused by a person on the charging page or the API (WB-3); the controller keeps it paused.
    manual_pause: bool = False
    timeout_s: float = 0.5
    # A charging plan (issue 19.3, energy.chargeplan), with the plant's forecast surplus and prices.
    plan: PlanSettings | None = None

    @property
    def max_phases(self) -> int:
        return WALLBOX_LIMITS[self.type][0]

    @property
    def max_current_a(self) -> float:
        return WALLBOX_LIMITS[self.type][1]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlantConfig:
    plant_id: int
    name: str
    time_zone: str
    installation_position: str
    meter: MeterConfig | None
    # Current transformers in front of the meter: primary current in A on 5 A (None: no CTs).
    meter_ct_primary_a: int | None = None
    inverters: tuple[InverterConfig, ...] = ()
    feed_in_limit: FeedInLimitSettings = field(default_factory=FeedInLimitSettings)
    battery_management: BatteryManagementSettings = field(default_factory=BatteryManagementSettings)
    grid_limits: GridOperatorLimits = field(default_factory=GridOperatorLimits)
    # The grid operator's control (EEBus LPC/LPP) as stored facts; ``None`` while the plant is not
    # controlled. When set, the cycle derives ``grid_limits`` from them at each cycle's time.
    grid_limit_facts: Facts | None = None
    mains: MainsConfig = field(default_factory=MainsConfig)
    wallboxes: tuple[WallboxConfig, ...] = ()
    # The latest stored forecast (forecast/), read with the settings, not computed by the cycle.
    forecast: Forecast | None = None
    # The last wallbox command of a Modbus client (MB-2); read fresh every cycle, not stored.
    wallbox_command: WallboxCommand | None = None

    @property
    def generator_power_w(self) -> float:
        """The plant's generator power: the sum of its inverters' maximum AC output."""
        return sum(inverter.max_ac_w for inverter in self.inverters)
