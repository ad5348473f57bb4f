"""A plant's settings as immutable values: what the cycle, its drivers and controllers get.

Loaded from the database by ``plant.config``; built directly by tests and the replay.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True, slots=True, kw_only=True)
class GridOperatorLimits:
    """Limits a grid operator sent (LPC on purchase, LPP on feed-in), in W; ``None`` = none."""

    lpc_w: float | None = None
    lpp_w: float | None = None


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

    @property
    def generator_power_w(self) -> float:
        """The plant's generator power: the sum of its inverters' maximum AC output."""
        return sum(inverter.max_ac_w for inverter in self.inverters)
