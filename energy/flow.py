"""Where the power goes: the energy flow from the meter and what is known about the devices."""

from __future__ import annotations

from energy.state import EnergyFlow, FlowSummary, MeterReading

# Below this a computed house consumption is measurement noise; further below, information is missing.
NOISE_W = 50.0


def compute_flow(position: str, reading: MeterReading | None, summary: FlowSummary | None) -> EnergyFlow:
    """Where the power goes, from the meter and what the product knows about the devices.

    In the grid position the meter sees the grid: house = grid + PV - battery charge - wallbox.
    In the home-consumption position (MET-6) it sees the house: grid follows from the devices.
    Unknown devices count as absent; a balance that cannot be right is reported as unknown.
    """
    summary = summary or FlowSummary()
    pv, battery, wallbox = summary.pv_power_w, summary.battery_power_w, summary.wallbox_power_w
    known = (pv or 0.0) - (battery or 0.0) - (wallbox or 0.0)
    grid: float | None
    house: float | None
    if reading is None:
        grid, house = None, None
    elif position == "home":
        house = reading.active_power_w
        grid = house - known if pv is not None else None
    else:
        grid = reading.active_power_w
        balance = grid + known
        house = None if balance < -NOISE_W else max(balance, 0.0)
    return EnergyFlow(
        grid_power_w=grid,
        pv_power_w=pv,
        battery_power_w=battery,
        battery_soc_pct=summary.battery_soc_pct,
        house_power_w=house,
        wallbox_power_w=wallbox,
    )
