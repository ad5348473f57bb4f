"""The wallboxes in the cycle: a box's state from its reading (phases on the grid, what is learnt
of the car's phases), and the state with what the controllers decided for it. Used by
:class:`plant.cycle.PlantRuntime`."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from energy.config import CHARGING_CURRENT_A, CHARGING_PHASES, ROTATIONS, WallboxConfig
from energy.devices import EVSE_ERROR, Device, WallboxReading
from energy.state import (
    WALLBOX_CHARGING,
    WALLBOX_ERROR,
    WALLBOX_NO_VEHICLE,
    WALLBOX_PAUSED,
    WALLBOX_WAITING,
    ControllerStatus,
    Setpoint,
    Timer,
    WallboxState,
)
from energy.status import StatusTracker
from wallbox.common import ACTIVE_CURRENT_A


@dataclass
class BoxRuntime:
    """A configured box in the runtime: its driver, its status and what was learnt of the car."""

    config: WallboxConfig
    device: Device[WallboxReading]
    status: StatusTracker
    # The phases the plugged-in car charges on when offered all of the box's phases (learnt),
    # and whether the box was on one phase since the car was plugged in.
    vehicle_phases: int | None = None
    one_phase_since_plug: bool = False


def grid_phase_currents(reading: WallboxReading, rotation: str) -> tuple[float, float, float]:
    """The box's L1..L3 currents placed on the grid phases its L1..L3 are wired to."""
    grid = [0.0, 0.0, 0.0]
    for box_phase, grid_phase in enumerate(ROTATIONS[rotation]):
        grid[grid_phase] += reading.phase_currents_a[box_phase]
    return (grid[0], grid[1], grid[2])


def learn_vehicle_phases(box: BoxRuntime, reading: WallboxReading) -> int | None:
    """How many phases the car charges on when its box offers all of its phases, learnt per
    plug-in from the box's detection register and from the phases seen drawing over 1 A.

    A box switched to one phase shows every car on one phase, so what it detected while on one
    phase says nothing about the car, unless it is three (a car seen on three phases uses three).
    """
    if not reading.vehicle_connected:
        box.vehicle_phases, box.one_phase_since_plug = None, False
        return None
    drawing = sum(current > ACTIVE_CURRENT_A for current in reading.phase_currents_a)
    detected = reading.detected_vehicle_phases or 0
    offers_all = box.config.max_phases == 3 and reading.switched_phases == 3
    box.one_phase_since_plug = box.one_phase_since_plug or not offers_all
    trusted = offers_all and (drawing > 0 or not box.one_phase_since_plug)
    seen = max(drawing, detected) if trusted else 0
    if drawing == 3 or detected == 3:
        seen = 3
    if seen:
        box.vehicle_phases = max(box.vehicle_phases or 0, min(seen, 3))
    return box.vehicle_phases


def wallbox_state(box: BoxRuntime, reading: WallboxReading | None, mode: str) -> WallboxState:
    """The box as read, before the controllers decide (they see this); ``mode`` is the one in force."""
    config = box.config
    status = box.status.status
    if reading is None:
        return WallboxState(
            name=config.name,
            type=config.type,
            status=status,
            state=WALLBOX_ERROR,
            mode=mode,
            configured_mode=config.mode,
            reason=f"offline: {status.error}" if status.error else "offline",
        )
    if reading.evse_state == EVSE_ERROR or reading.error_code:
        state = WALLBOX_ERROR
    elif not reading.vehicle_connected:
        state = WALLBOX_NO_VEHICLE
    elif reading.charging:
        state = WALLBOX_CHARGING
    elif reading.released:
        state = WALLBOX_WAITING
    else:
        state = WALLBOX_PAUSED
    return WallboxState(
        name=config.name,
        type=config.type,
        status=status,
        state=state,
        mode=mode,
        configured_mode=config.mode,
        phases=reading.switched_phases,
        current_a=reading.current_limit_a,
        phase_currents_a=grid_phase_currents(reading, config.rotation),
        power_w=reading.power_w,
        vehicle_connected=reading.vehicle_connected,
        vehicle_phases=learn_vehicle_phases(box, reading),
        session_energy_wh=reading.session_energy_wh,
        error_code=reading.error_code,
        reason=f"error {reading.error_code}" if reading.error_code else "",
        status_code=reading.evse_state,
        session_duration_s=reading.session_duration_s if reading.vehicle_connected else None,
    )


def controlled(box: WallboxState, setpoints: Sequence[Setpoint], statuses: Sequence[ControllerStatus]) -> WallboxState:
    """The box with what the controllers decided for it: the current and phases written this
    cycle, a pause and its reason, and the timers that run for it."""
    current = next((s for s in setpoints if s.device == box.name and s.quantity == CHARGING_CURRENT_A), None)
    phases = next((s for s in setpoints if s.device == box.name and s.quantity == CHARGING_PHASES), None)
    timers = tuple(
        Timer(name=timer.name.removeprefix(f"{box.name}: "), seconds_left=timer.seconds_left)
        for status in statuses
        for timer in status.timers
        if timer.name.startswith(f"{box.name}: ")
    )
    if current is None or box.state in (WALLBOX_ERROR, WALLBOX_NO_VEHICLE):
        return dataclasses.replace(box, timers=timers) if timers else box
    state = box.state
    if current.value <= 0.0:
        state = WALLBOX_PAUSED
    elif state == WALLBOX_PAUSED:
        state = WALLBOX_WAITING  # released this cycle; the car starts drawing in a moment
    return dataclasses.replace(
        box,
        state=state,
        current_a=current.value,
        phases=int(phases.value) if phases is not None else box.phases,
        reason=current.reason,
        timers=timers,
    )
