"""What the plant overview (PL-2) shows, computed from one snapshot through its types.

Pure functions of a :class:`~energy.state.PlantState`: no request, no Redis, no clock. The page
renders them once on the server; ``static/js/overview.js`` mirrors the same rules for every live
message, so a rule changed here must change there too (the browser test catches a mismatch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from energy.state import (
    BatteryState,
    ControllerStatus,
    EnergyFlow,
    InverterState,
    PlantState,
    Setpoint,
    WallboxState,
)
from inverters.types import INVERTER_TYPES
from pages.presentation import IDLE_POWER_W, format_energy_kwh, format_number, format_power

# The setpoint quantity of an inverter's active-power limit, in % of its maximum AC output.
LIMIT_QUANTITY = "active_power_limit_pct"
FEED_IN_CONTROLLER = "feed_in_limitation"
BATTERY_CONTROLLER = "battery_management"
FAILED = "failed"
UNKNOWN = "–"
SOURCES = ("pv", "battery", "grid")
PHASES = ("L1", "L2", "L3")


@dataclass(frozen=True, slots=True)
class Share:
    """One source of the house consumption: how many W it delivers to the house, and which part."""

    source: str  # pv, battery, grid
    power_w: float | None
    pct: float | None


def consumption_power_w(flow: EnergyFlow) -> float | None:
    """What the plant consumes: the house and the wallboxes (the flow keeps them apart), in W."""
    if flow.house_power_w is None:
        return None
    return max(flow.house_power_w, 0.0) + max(flow.wallbox_power_w or 0.0, 0.0)


def consumption_sources(flow: EnergyFlow) -> tuple[Share, ...]:
    """Where the consumption (house and wallboxes) comes from right now.

    The rule: PV covers the consumption first, as far as it goes; a discharging battery covers
    what PV leaves; the grid supplies the rest. PV beyond it (feeding in or charging the battery)
    is no source of it, and a charging battery delivers nothing. The wallboxes count with the
    house, so the grid's share is what the grid card shows as purchase, unless the grid also
    charges the battery (:func:`grid_to_battery_w`). Devices the plant does not have (``None`` in
    the flow) are left out; the grid is always there. With the house consumption unknown every
    share is unknown; with no consumption every share is 0 W and no percentage.
    """
    total = consumption_power_w(flow)
    present = ["pv"] if flow.pv_power_w is not None else []
    present += ["battery"] if flow.battery_power_w is not None else []
    present += ["grid"]
    if total is None:
        return tuple(Share(source, None, None) for source in present)
    remaining = total
    offered = {
        "pv": max(flow.pv_power_w or 0.0, 0.0),
        "battery": max(-(flow.battery_power_w or 0.0), 0.0),
        "grid": remaining,
    }
    shares = []
    for source in present:
        power = min(offered[source], remaining)
        remaining -= power
        shares.append(Share(source, power, 100.0 * power / total if total > 0 else None))
    return tuple(shares)


def grid_to_battery_w(flow: EnergyFlow) -> float | None:
    """The part of the grid purchase that charges the battery rather than feeding a consumer."""
    if flow.grid_power_w is None or flow.battery_power_w is None or flow.battery_power_w <= 0:
        return None
    grid_share = next((s.power_w for s in consumption_sources(flow) if s.source == "grid"), None)
    if grid_share is None:
        return None
    extra = max(flow.grid_power_w, 0.0) - grid_share
    return min(extra, flow.battery_power_w) if extra >= IDLE_POWER_W else None


def battery_direction(power_w: float | None) -> str:
    """charging, discharging, idle; "" when unknown (mirrored in overview.js)."""
    if power_w is None:
        return ""
    if abs(power_w) < IDLE_POWER_W:
        return "idle"
    return "charging" if power_w > 0 else "discharging"


def format_pct(value: float | None, decimals: int = 0) -> str:
    return UNKNOWN if value is None else f"{format_number(value, decimals)} %"


def format_unit(value: float | None, decimals: int, unit: str) -> str:
    return UNKNOWN if value is None else f"{format_number(value, decimals)} {unit}"


def format_seconds(seconds: float) -> str:
    return f"{format_number(max(seconds, 0.0), 0)} s"


def inverter_type_label(key: str) -> str:
    known = INVERTER_TYPES.get(key)
    return known.label if known else key


def controller_labels() -> dict[str, str]:
    return {FEED_IN_CONTROLLER: _("Feed-in limitation"), BATTERY_CONTROLLER: _("Battery management")}


def controller_state_labels() -> dict[str, str]:
    return {
        "off": _("Off"),
        "idle": _("Idle"),
        "active": _("Active"),
        "limiting": _("Limiting"),
        FAILED: _("Failed"),
    }


def controller_label(name: str) -> str:
    return controller_labels().get(name) or name.replace("_", " ").capitalize()


def find_controller(state: PlantState, name: str) -> ControllerStatus | None:
    return next((c for c in state.controllers if c.name == name), None)


def limit_setpoints(state: PlantState) -> dict[str, Setpoint]:
    """The active-power limit the cycle writes to each inverter, by inverter name."""
    return {s.device: s for s in state.setpoints if s.quantity == LIMIT_QUANTITY}


def generator_power_w(state: PlantState) -> float:
    """The sum of the inverters' maximum AC output: what % limits are taken of."""
    return sum(inverter.max_ac_w for inverter in state.inverters)


def total_setpoint_w(state: PlantState) -> float | None:
    """The limits written this cycle, added up in W; None when no inverter gets one."""
    setpoints = limit_setpoints(state)
    if not setpoints:
        return None
    return sum(setpoints[i.name].value * i.max_ac_w / 100.0 for i in state.inverters if i.name in setpoints)


def _reasons(setpoints: list[Setpoint]) -> str:
    return "; ".join(dict.fromkeys(s.reason for s in setpoints if s.reason))


def controller_row(status: ControllerStatus) -> dict[str, Any]:
    return {
        "name": status.name,
        "label": controller_label(status.name),
        "state": status.state,
        "state_text": controller_state_labels().get(status.state, status.state),
        "reason": status.reason,
        "error": status.error,
        "failed": status.state == FAILED,
        "timers": [{"name": t.name, "text": format_seconds(t.seconds_left)} for t in status.timers],
    }


def limitation_view(state: PlantState) -> dict[str, Any]:
    setpoints = limit_setpoints(state)
    total_w = total_setpoint_w(state)
    generator_w = generator_power_w(state)
    controller = find_controller(state, FEED_IN_CONTROLLER)
    return {
        "enabled": state.feed_in_limit_w is not None,
        "limit_w": state.feed_in_limit_w,
        "limit_text": format_power(state.feed_in_limit_w),
        "setpoint_w": total_w,
        "setpoint_text": format_power(total_w),
        "setpoint_pct_text": format_pct(100.0 * total_w / generator_w if total_w is not None and generator_w else None),
        "reason": _reasons(list(setpoints.values())),
        "controller": controller_row(controller) if controller else None,
    }


def _plan_rows(battery: Any) -> list[dict[str, Any]]:
    """The plan one row per local hour: the hour's average planned charge and the SoC expected at
    its end (the 15-minute slots are in the API)."""
    hours: dict[str, list[Any]] = {}
    for slot in battery.plan:
        hours.setdefault(timezone.localtime(slot.start).strftime("%H:00"), []).append(slot)
    return [
        {
            "time_text": hour,
            "charge_text": format_power(sum(s.charge_w for s in slots) / len(slots)),
            "soc_text": format_pct(slots[-1].soc_pct),
        }
        for hour, slots in hours.items()
    ]


def inverter_row(inverter: InverterState, setpoint: Setpoint | None) -> dict[str, Any]:
    limit_pct = setpoint.value if setpoint else inverter.limit_pct
    return {
        "name": inverter.name,
        "type": inverter_type_label(inverter.type),
        "online": inverter.status.online,
        "error": inverter.status.error,
        "controllable": inverter.controllable,
        "ac_power_w": inverter.ac_power_w,
        "ac_power_text": format_power(inverter.ac_power_w),
        "dc_power_text": format_power(inverter.dc_power_w),
        "max_ac_text": format_power(inverter.max_ac_w),
        "limit_pct": limit_pct,
        "limit_text": format_pct(limit_pct),
        "limit_reason": setpoint.reason if setpoint else "",
    }


def _battery_limit(limit_w: float | None, known: bool) -> str:
    if not known:
        return UNKNOWN
    return _("Inactive") if limit_w is None else format_power(limit_w)


def battery_view(state: PlantState) -> dict[str, Any] | None:
    """The house battery as the product keeps it, else a hybrid inverter's own battery, else the flow's."""
    battery: BatteryState | None = state.battery
    hybrid = next((i for i in state.inverters if i.battery_power_w is not None or i.battery_soc_pct is not None), None)
    if battery is not None:
        name, power_w, soc_pct = battery.name, battery.power_w, battery.soc_pct
        online, error = battery.status.online, battery.status.error
    elif hybrid is not None:
        name, power_w, soc_pct = hybrid.name, hybrid.battery_power_w, hybrid.battery_soc_pct
        online, error = hybrid.status.online, hybrid.status.error
    elif state.flow.battery_power_w is not None or state.flow.battery_soc_pct is not None:
        name, power_w, soc_pct = "", state.flow.battery_power_w, state.flow.battery_soc_pct
        online, error = True, ""
    else:
        return None
    controller = find_controller(state, BATTERY_CONTROLLER)
    direction = battery_direction(power_w)
    return {
        "name": name,
        "online": online,
        "error": error,
        "power_w": power_w,
        "power_text": format_power(power_w),
        "direction": direction,
        "soc_pct": soc_pct,
        "soc_text": format_pct(soc_pct),
        "charge_limit_text": _battery_limit(battery.charge_limit_w if battery else None, battery is not None),
        "charge_limit_reason": battery.charge_limit_reason if battery else "",
        "discharge_limit_text": _battery_limit(battery.discharge_limit_w if battery else None, battery is not None),
        "discharge_limit_reason": battery.discharge_limit_reason if battery else "",
        "controller": controller_row(controller) if controller else None,
        # Grid-optimised charging (issue 19): its reason and, per hour, the planned charge and SoC.
        "plan_reason": battery.plan_reason if battery else "",
        "plan": _plan_rows(battery) if battery else [],
    }


def grid_view(state: PlantState | None) -> dict[str, Any]:
    """The grid connection point as the meter measures it; all unknown without a measurement."""
    meter = state.meter if state else None
    phases = []
    for index, label in enumerate(PHASES):
        phase = meter.phases[index] if meter else None
        phases.append(
            {
                "label": label,
                "voltage_text": format_unit(phase.voltage_v if phase else None, 1, "V"),
                "current_text": format_unit(phase.current_a if phase else None, 2, "A"),
                "power_text": format_unit(phase.active_power_w if phase else None, 0, "W"),
            }
        )
    power_w = meter.active_power_w if meter else None
    return {
        "known": state is not None,
        "online": state.meter_status.online if state else False,
        "error": state.meter_status.error if state else "",
        "power_w": power_w,
        "power_text": format_unit(power_w, 0, "W"),
        "direction": "" if power_w is None else "purchase" if power_w > 0 else "feed-in" if power_w < 0 else "",
        "frequency_text": format_unit(meter.frequency_hz if meter else None, 2, "Hz"),
        "cos_phi_text": UNKNOWN if meter is None else format_number(meter.power_factor, 3),
        "phases": phases,
    }


def wallbox_state_labels() -> dict[str, str]:
    """The box's state as people read it (``energy.state.WALLBOX_*``)."""
    return {
        "no_vehicle": _("No vehicle"),
        "waiting": _("Waiting for power"),
        "charging": _("Charging"),
        "paused": _("Paused"),
        "error": _("Error"),
    }


def status_code_labels() -> dict[int, str]:
    """The ENECTOR's status codes (EVSE state, ``energy.devices.EVSE_*``)."""
    return {
        0: _("not initialised"),
        1: _("no vehicle"),
        2: _("vehicle connected"),
        3: _("preconditions not met"),
        4: _("ready to charge"),
        5: _("charging"),
        6: _("error"),
        7: _("service"),
    }


def format_duration(seconds: float | None) -> str:
    """A session's duration as h:mm (mirrored in overview.js)."""
    if seconds is None:
        return UNKNOWN
    minutes = int(max(seconds, 0.0) // 60)
    return f"{minutes // 60}:{minutes % 60:02d} h"


def wallbox_row(box: WallboxState) -> dict[str, Any]:
    """One wallbox as PL-2 lists it: status, status code, charging power, session energy and duration."""
    online = box.status.online
    code = box.status_code
    code_text = UNKNOWN if code is None else f"{code} ({status_code_labels().get(code, '?')})"
    if box.error_code:
        code_text += " · " + _("error %(code)s") % {"code": box.error_code}
    session = box.vehicle_connected
    return {
        "name": box.name,
        "online": online,
        "state": box.state,
        "state_text": wallbox_state_labels().get(box.state, box.state) if online else _("No answer"),
        "error": "" if online else box.status.error,
        "status_code": code,
        "status_code_text": code_text,
        "power_w": box.power_w,
        "power_text": format_power(box.power_w),
        "energy_text": format_energy_kwh(box.session_energy_wh) if session else UNKNOWN,
        "duration_text": format_duration(box.session_duration_s) if session else UNKNOWN,
        "reason": box.reason,
    }


def consumers_view(state: PlantState | None) -> dict[str, Any]:
    """The consumption and its two parts, the house and the wallboxes, and what the grid puts into the battery."""
    flow = state.flow if state else None
    total = consumption_power_w(flow) if flow else None
    wallbox_w = flow.wallbox_power_w if flow else None
    to_battery = grid_to_battery_w(flow) if flow else None
    return {
        "total_w": total,
        "total_text": format_power(total),
        "house_w": flow.house_power_w if flow else None,
        "house_text": format_power(flow.house_power_w if flow else None),
        "has_wallboxes": wallbox_w is not None,
        "wallbox_w": wallbox_w,
        "wallbox_text": format_power(wallbox_w),
        "grid_to_battery_w": to_battery,
        "grid_to_battery_text": format_power(to_battery) if to_battery is not None else "",
    }


def consumption_rows(state: PlantState | None) -> list[dict[str, Any]]:
    """A row for each possible source; one the plant does not have is not ``present`` (hidden)."""
    shares = {s.source: s for s in consumption_sources(state.flow)} if state else {}
    rows = []
    for source in SOURCES:
        share = shares.get(source)
        rows.append(
            {
                "source": source,
                "present": share is not None,
                "power_text": format_power(share.power_w if share else None),
                "pct": share.pct if share else None,
                "pct_text": format_pct(share.pct if share else None),
                "bar_pct": round(min(max(share.pct or 0.0, 0.0), 100.0), 2) if share else 0.0,
            }
        )
    return rows


def overview(state: PlantState | None) -> dict[str, Any]:
    """Every section of the page; an absent device's section is None (the template hides it)."""
    setpoints = limit_setpoints(state) if state else {}
    pv_w = state.flow.pv_power_w if state else None
    has_pv = state is not None and (pv_w is not None or bool(state.inverters))
    return {
        "house_power_w": state.flow.house_power_w if state else None,
        "house_text": format_power(state.flow.house_power_w if state else None),
        "consumers": consumers_view(state),
        "wallboxes": [wallbox_row(box) for box in state.wallboxes] if state else [],
        "consumption": consumption_rows(state),
        "limitation": limitation_view(state) if state else None,
        "inverters": [inverter_row(i, setpoints.get(i.name)) for i in state.inverters] if state else [],
        "pv": {"power_w": pv_w, "power_text": format_power(pv_w)} if has_pv else None,
        "battery": battery_view(state) if state else None,
        "grid": grid_view(state),
        "controllers": [controller_row(c) for c in state.controllers] if state else [],
        "generator_power_w": generator_power_w(state) if state else 0.0,
    }


def overview_labels() -> dict[str, Any]:
    """Texts overview.js needs (the scripts have no catalog of their own)."""
    return {
        "sources": {"pv": _("PV"), "battery": _("Battery"), "grid": _("Grid")},
        "on": _("On"),
        "off": _("Off"),
        "ok": _("OK"),
        "error": _("Error"),
        "inactive": _("Inactive"),
        "monitoredOnly": _("monitored only"),
        "charging": _("Charging"),
        "discharging": _("Discharging"),
        "idle": _("Idle"),
        "purchase": _("Purchase"),
        "feedIn": _("Feed-in"),
        "ofGenerator": _("of generator power"),
        "controllers": controller_labels(),
        "states": controller_state_labels(),
        "types": {key: t.label for key, t in INVERTER_TYPES.items()},
        "wallboxStates": wallbox_state_labels(),
        "statusCodes": {str(code): text for code, text in status_code_labels().items()},
        "noAnswer": _("No answer"),
        "errorCode": _("error %(code)s"),
        "gridToBattery": _("The grid also charges the battery with %(power)s."),
    }
