"""The wallbox option (WB-1) and the immutable settings the cycle gets of the boxes and the mains
connection (:func:`wallbox_configs`, :func:`mains_config`), with the RS485 lines they sit on."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from energy import chargeplan as cp
from energy.config import MainsConfig, SerialConfig, SolarPlusSettings, WallboxConfig
from wallbox import plans
from wallbox.models import ChargingPlan, MainsSettings, TimeModeSchedule, Wallbox, default_time_mode, on_interface

OPTION = "wallbox"
# The ENECTOR's RS485 line: 57600 baud, 8 data bits, no parity, 2 stop bits.
ENECTOR_LINE: dict[str, Any] = {"baudrate": 57600, "bytesize": 8, "parity": "N", "stopbits": 2}
DEFAULT_RS485_PORTS = {"A": "/dev/ttyUSB0", "B": "/dev/ttyUSB1"}


def option_active(plant: Any) -> bool:
    """The wallbox menu, pages and API exist only while the plant has the wallbox option."""
    return plant is not None and bool(plant.is_option_active(OPTION))


def plant_model() -> type[models.Model]:
    """The plant model, reached through the relation (the device apps sit below ``plant``)."""
    model = Wallbox._meta.get_field("plant").related_model
    assert isinstance(model, type)
    return model


def rs485_ports() -> dict[str, str]:
    """Which serial line each RS485 interface is: a device path or ``socket://host:port`` (RTU over TCP).

    ``KSEM_RS485_A``/``KSEM_RS485_B`` (the Modbus settings' defaults) and ``KSEM_RS485_PORTS``
    override the built-in ``/dev/ttyUSB0``/``/dev/ttyUSB1``.
    """
    ports = dict(DEFAULT_RS485_PORTS)
    for name, setting_name in (("A", "RS485_A_DEVICE"), ("B", "RS485_B_DEVICE")):
        value = getattr(settings, setting_name, "")
        if value:
            ports[name] = str(value)
    return {**ports, **getattr(settings, "KSEM_RS485_PORTS", {})}


def serial_config(line: str) -> SerialConfig:
    """The serial settings of a line (:attr:`Wallbox.line`): RS485 A or B as the installation has
    them, a gateway's ``host:port`` as Modbus RTU over TCP to it."""
    port = rs485_ports().get(line, "") if on_interface(line) else f"socket://{line}"
    return SerialConfig(port=port, **ENECTOR_LINE)


def time_mode_of(wallbox: Wallbox) -> list[list[str]]:
    schedule = TimeModeSchedule.objects.filter(wallbox=wallbox).first() if wallbox.pk else None
    return schedule.days if schedule is not None else default_time_mode()


def wallbox_config(wallbox: Wallbox, days: list[list[str]] | None = None) -> WallboxConfig:
    days = days if days is not None else time_mode_of(wallbox)
    return WallboxConfig(
        name=wallbox.name,
        type=wallbox.type,
        serial=serial_config(wallbox.line),
        address=wallbox.bus_address,
        rotation=wallbox.rotation,
        phase_usage=wallbox.phase_usage,
        mode=wallbox.mode,
        battery_use=wallbox.battery_use,
        min_current_a=float(wallbox.min_current_a),
        solar_plus=SolarPlusSettings(
            start_power=wallbox.solar_plus_start, min_solar_share_pct=float(wallbox.solar_plus_min_share_pct)
        ),
        time_mode=tuple(tuple(day) for day in days),
        manual_pause=wallbox.manual_pause,
        plan=plan_settings(wallbox),
    )


def plan_settings(wallbox: Wallbox, now: dt.datetime | None = None) -> cp.PlanSettings | None:
    """The box's active charging plan with the plant's forecast surplus and prices (issue 19.3)."""
    plan = ChargingPlan.objects.filter(wallbox=wallbox, enabled=True).first() if wallbox.pk else None
    if plan is None or plan.target_kwh is None:
        return None
    now = now or timezone.now()
    source = plans.slot_source
    slots, currency = source(wallbox.plant, now, now + cp.HORIZON) if source is not None else ((), "EUR")
    common: dict[str, Any] = {
        "target_wh": plan.target_kwh * 1000.0,
        "time_zone": wallbox.plant.time_zone,
        "slots": slots,
        "currency": currency,
    }
    if plan.repeat == ChargingPlan.Repeat.ONCE:
        return cp.PlanSettings(departure=plan.departure_at, **common)
    return cp.PlanSettings(weekdays=tuple(plan.weekdays), time=plan.departure_time, **common)


def wallbox_configs(plant: Any) -> tuple[WallboxConfig, ...]:
    """The plant's boxes for the cycle; none while the wallbox option is off (WB-1)."""
    if not option_active(plant):
        return ()
    boxes = Wallbox.objects.filter(plant=plant).select_related("time_mode").order_by("position", "pk")
    configs = []
    for box in boxes:
        schedule = getattr(box, "time_mode", None)  # a missing reverse one-to-one raises AttributeError
        configs.append(wallbox_config(box, schedule.days if schedule is not None else default_time_mode()))
    return tuple(configs)


def mains_settings_of(plant: Any) -> MainsSettings:
    """The plant's mains connection (defaults, unsaved, until someone saves them)."""
    found = MainsSettings.objects.filter(plant=plant).first() if plant.pk else None
    return found or MainsSettings(plant=plant)


def mains_config(plant: Any) -> MainsConfig:
    """The controller guards one fuse rating: the smallest of the phases in use (the safe side)."""
    mains = mains_settings_of(plant)
    return MainsConfig(
        phases=int(mains.phases),
        fuse_a=float(mains.smallest_fuse_a),
        unbalance_limit_va=float(mains.unbalance_limit_va),
    )


def plan_timeline(wallbox: Wallbox, state: Any = None, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """The box's plan as it stands now, for its page and the API: planned power per slot, the
    expected cost and solar share, the reason the controller gives (``None`` without a plan)."""
    now = now or timezone.now()
    settings = plan_settings(wallbox, now)
    if settings is None:
        return None
    plant = wallbox.plant
    config = wallbox_config(wallbox)
    plant_config = _timeline_plant(plant, config)
    st = next((b for b in getattr(state, "wallboxes", ()) if b.name == wallbox.name), None)
    if not (st is not None and st.vehicle_connected):
        st = None  # no car: the plan shows what it would do for the whole target
    departure = settings.next_departure(now)
    planned = plans.current_plan(config, plant_config, st, now)
    needed = cp.needed_wh(settings.target_wh, plans.delivered_wh(st))
    body: dict[str, Any] = {
        "active": planned is not None and needed > 0,
        "departure": departure.isoformat() if departure is not None else None,
        "target_wh": settings.target_wh,
        "delivered_wh": round(plans.delivered_wh(st), 1),
        "needed_wh": round(needed, 1),
        "currency": settings.currency,
        "vehicle_connected": st is not None,
    }
    if planned is None:
        return {**body, "feasible": None, "reason": "", "cost": None, "solar_share_pct": None, "slots": []}
    shown = cp.Plan(planned.now, planned.departure, needed, planned.max_power_w, planned.slots, planned.feasible)
    cost = planned.cost
    share = planned.solar_share_pct
    return {
        **body,
        "feasible": planned.feasible,
        "max_power_w": round(planned.max_power_w, 1),
        "reason": cp.describe(shown, plant.time_zone) if needed > 0 else "",
        "planned_wh": round(planned.energy_wh, 1),
        "cost": None if cost is None else round(cost, 2),
        "solar_share_pct": None if share is None else round(share, 1),
        "slots": [
            {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "power_w": round(s.power_w, 1),
                "solar_w": round(s.solar_w, 1),
                "price": s.price,
            }
            for s in planned.slots
        ],
    }


def _timeline_plant(plant: Any, box: WallboxConfig) -> Any:
    from energy.config import PlantConfig

    return PlantConfig(
        plant_id=plant.pk,
        name=plant.name,
        time_zone=plant.time_zone,
        installation_position="grid",
        meter=None,
        mains=mains_config(plant),
        wallboxes=(box,),
    )
