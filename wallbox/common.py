"""What the wallbox controllers share: their constants, the mode in force, the phases a box
loads, the plant's grid and battery power, timers and the setpoints they request.

Every controller of the wallboxes (:mod:`wallbox.guards`, :mod:`wallbox.modes`,
:mod:`replay.evcc`) is a function of one cycle's :class:`~energy.control.Inputs`; it
touches no Django, socket or clock.

Signs and units
---------------
Grid: purchase (+), feed-in (-). Battery: charge (+), discharge (-). Currents per phase in A,
powers in W, :data:`~energy.config.NOMINAL_VOLTAGE_V` (230 V) per phase.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from energy.config import (
    CHARGING_CURRENT_A,
    CHARGING_PHASES,
    HOURLY_MODES,
    LOCK,
    NOMINAL_VOLTAGE_V,
    PHASES_AUTO,
    PHASES_SINGLE,
    ROTATIONS,
    TIME_MODE,
    PlantConfig,
    WallboxConfig,
)
from energy.state import PlantState, Setpoint, Timer, WallboxCommand, WallboxState

V = NOMINAL_VOLTAGE_V
# MB-2: the reason of every request a Modbus client's command makes.
MODBUS_CLIENT = "Modbus client"
# What no command changes: it says nothing of the client.
NOT_COMMANDED = frozenset({"wallbox offline", "no vehicle", "paused by user"})
# A phase carrying more than this is in use (evcc's minActiveCurrent).
ACTIVE_CURRENT_A = 1.0
# WB-10: the minimum charging current the box itself accepts.
BOX_MIN_CURRENT_A = 6.0
# WB-6: keep the minimum current this long when surplus is missing, then pause ...
HYSTERESIS_S = 300.0
# ... and resume no sooner than this after the pause.
RESUME_S = 480.0
# Surplus must hold at the start threshold this long before charging starts (a passing gap in
# the clouds is no reason to close the contactor).
START_DELAY_S = 60.0
# A car released this long that still takes nothing leaves its share of the surplus to others.
IDLE_AFTER_S = 120.0
# WB-8: charging keeps this much under the fuse (the larger of the two), so meter noise and a
# house load creeping up between two cycles do not read as a phase over its fuse.
FUSE_MARGIN_A = 0.3
FUSE_MARGIN_SHARE = 0.01
# WB-4: every 15 min check whether 3-phase charging is possible ...
PHASE_CHECK_S = 900.0
# ... with the available current at least 7 % above the 3-phase minimum.
PHASE_UP_HEADROOM = 1.07
# Solar Plus start power as a fraction of the vehicle's power range.
START_FRACTIONS = {"min": 0.0, "50": 0.5, "75": 0.75, "max": 1.0}
EPSILON = 1e-6


# --- shared helpers ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def command_in_force(config: PlantConfig, now: dt.datetime) -> WallboxCommand | None:
    """The Modbus client's wallbox command (MB-2) when it holds at ``now``: not released, not
    older than :data:`~energy.config.WALLBOX_COMMAND_TIMEOUT_S`."""
    command = config.wallbox_command
    return command if command is not None and command.in_force(now) else None


def mode_in_force(
    box: WallboxConfig, time_zone: str, now: dt.datetime, command: WallboxCommand | None = None
) -> tuple[str, bool]:
    """The mode that holds for ``box`` at ``now``: (mode, True when Time Mode chose it).

    A Modbus client's command in force (``command``, see :func:`command_in_force`) that names a
    mode replaces the box's own. Time Mode is resolved in the plant's local time (DST included:
    on the night the clocks go back the repeated hour keeps the mode of its hour both times).
    """
    if command is not None and command.mode is not None:
        return (command.mode if command.mode in HOURLY_MODES else LOCK), False
    if box.mode != TIME_MODE:
        return (box.mode if box.mode in HOURLY_MODES else LOCK), False
    local = now.astimezone(_zone(time_zone or "UTC"))
    try:
        mode = box.time_mode[local.weekday()][local.hour]
    except IndexError:
        mode = LOCK
    # A malformed schedule charges nothing rather than something unexpected.
    return (mode if mode in HOURLY_MODES else LOCK), True


def box_states(state: PlantState) -> dict[str, WallboxState]:
    return {box.name: box for box in state.wallboxes}


def draw_w(box: WallboxState | None) -> float:
    """What a box draws now, in W."""
    if box is None:
        return 0.0
    if box.power_w is not None:
        return max(0.0, box.power_w)
    return sum(max(0.0, current) for current in box.phase_currents_a) * V


def fixed_phases(box: WallboxConfig, config: PlantConfig) -> int:
    """The phase count a box uses when it does not switch automatically."""
    if box.max_phases == 1 or box.phase_usage == PHASES_SINGLE or config.mains.phases == 1:
        return 1
    return 3


def switchable(box: WallboxConfig, config: PlantConfig) -> bool:
    return box.max_phases == 3 and box.phase_usage == PHASES_AUTO and config.mains.phases == 3


def vehicle_phases(st: WallboxState | None) -> int:
    """How many phases the car at a box may charge on: what the box knows of it, else three."""
    if st is None or st.vehicle_phases is None:
        return 3
    return max(1, min(3, st.vehicle_phases))


def fuse_margin(fuse_a: float) -> float:
    """How far under the fuse rating the guard holds a phase (WB-8)."""
    return max(FUSE_MARGIN_A, FUSE_MARGIN_SHARE * fuse_a)


def min_current(box: WallboxConfig) -> float:
    return max(BOX_MIN_CURRENT_A, min(box.min_current_a, box.max_current_a))


def grid_phases(box: WallboxConfig, phases: int, config: PlantConfig) -> tuple[int, ...]:
    """The grid phases (0..2) a box charging on ``phases`` phases loads."""
    if config.mains.phases == 1:
        return (0,)
    rotation = ROTATIONS.get(box.rotation, (0, 1, 2))
    return rotation[:1] if phases == 1 else rotation


def battery_power_w(state: PlantState) -> float:
    """All house batteries together (the energy flow), else the one the product knows."""
    if state.flow.battery_power_w is not None:
        return state.flow.battery_power_w
    if state.battery is not None and state.battery.power_w is not None:
        return state.battery.power_w
    return 0.0


def grid_power_w(state: PlantState) -> float | None:
    if state.flow.grid_power_w is not None:
        return state.flow.grid_power_w
    return state.meter.active_power_w if state.meter is not None else None


def battery_headroom_w(state: PlantState, config: PlantConfig) -> float:
    """What the house battery may discharge in all (WB-7 "use it"): its discharge limit, else
    its maximum; 0 at its minimum SoC. The surplus already counts what it discharges now (a
    discharging battery lowers it), so this is added in full, not less its present power."""
    battery = state.battery
    if battery is None or battery.soc_pct is None or not battery.status.online:
        return 0.0
    min_soc = battery.min_soc_pct if battery.min_soc_pct else config.battery_management.min_soc_pct
    if battery.soc_pct <= min_soc:
        return 0.0
    limit = battery.discharge_limit_w if battery.discharge_limit_w is not None else battery.max_discharge_w
    return max(0.0, limit)


def elapsed_s(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    """Seconds from a remembered ``moment`` to ``now``; ``None`` when nothing is remembered."""
    return None if moment is None else (now - moment).total_seconds()


def clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def kw(power_w: float) -> str:
    return f"{power_w / 1000:.1f} kW"


def timer_name(box: str, what: str) -> str:
    """Timers of the wallbox controllers are named ``"<box>: <what>"``; see :func:`timers_for`."""
    return f"{box}: {what}"


def timers_for(box: str, timers: Sequence[Timer]) -> tuple[Timer, ...]:
    """The timers of one box among a controller's timers, named without the box."""
    prefix = f"{box}: "
    return tuple(
        Timer(name=t.name[len(prefix) :], seconds_left=t.seconds_left) for t in timers if t.name.startswith(prefix)
    )


def current_request(box: str, value: float, reason: str) -> Setpoint:
    return Setpoint(device=box, quantity=CHARGING_CURRENT_A, value=round(value, 3), reason=reason)


def phases_request(box: str, value: int, reason: str) -> Setpoint:
    return Setpoint(device=box, quantity=CHARGING_PHASES, value=float(value), reason=reason)
