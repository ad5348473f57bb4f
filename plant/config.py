"""Load a plant's settings from the database as one immutable :class:`energy.config.PlantConfig`."""

from __future__ import annotations

from energy.config import (
    GRID_POSITION,
    BatteryManagementSettings,
    FeedInLimitSettings,
    KsemTcpConfig,
    MeterConfig,
    PlantConfig,
    Sdm630Config,
)
from forecast import services as forecast_services
from inverters.models import Inverter
from inverters.services import inverter_config, power_settings_of
from meter.models import Meter
from plant.models import Plant
from smartgrid import services as smartgrid_services
from wallbox.configs import mains_config, wallbox_configs


class PlantNotFound(Exception):
    pass


def load_config(plant_id: int) -> PlantConfig:
    plant = Plant.objects.select_related("meter").filter(pk=plant_id).first()
    if plant is None:
        raise PlantNotFound(f"plant {plant_id} does not exist")
    meter = getattr(plant, "meter", None)
    inverters = tuple(
        inverter_config(inverter)
        for inverter in Inverter.objects.filter(plant=plant).select_related("battery").order_by("position", "pk")
    )
    power = power_settings_of(plant)
    # Both need the measurement at the grid connection point (MET-6): off in the home position, whatever is stored.
    at_grid = plant.installation_position == GRID_POSITION
    generator_power_w = sum(inverter.max_ac_w for inverter in inverters)
    return PlantConfig(
        plant_id=plant.pk,
        name=plant.name,
        time_zone=plant.time_zone,
        installation_position=plant.installation_position,
        meter=meter_config(meter) if meter else None,
        meter_ct_primary_a=meter.ct_primary_a if meter else None,
        inverters=inverters,
        feed_in_limit=FeedInLimitSettings(
            enabled=at_grid and power.feed_in_limit_enabled, limit_w=power.limit_w(generator_power_w)
        ),
        battery_management=BatteryManagementSettings(
            enabled=at_grid and power.battery_management_enabled and power.battery_management_unlocked,
            min_soc_pct=power.min_soc_pct,
            max_soc_pct=power.max_soc_pct,
            grid_optimised=power.grid_optimised,
            full_by=power.full_by,
        ),
        mains=mains_config(plant),
        wallboxes=wallbox_configs(plant),
        grid_limit_facts=smartgrid_services.cycle_facts(plant.pk),
        # Read with the settings (reloaded every few seconds and when anything is saved): the cycle
        # never computes a forecast, grid-optimised battery charging plans with this one.
        forecast=forecast_services.latest(plant.pk) if power.grid_optimised else None,
    )


def meter_config(meter: Meter) -> MeterConfig:
    """The meter's driver settings (MET-2): KSEM layout over TCP, or an SDM630 on Modbus RTU."""
    if meter.driver == Meter.Driver.SDM630_RTU:
        return Sdm630Config(
            port=meter.serial_port,
            unit_id=meter.unit_id,
            baudrate=meter.baudrate,
            parity=meter.parity,
            stopbits=meter.stopbits,
            timeout_s=meter.timeout_s,
        )
    return KsemTcpConfig(meter.host, meter.port, meter.unit_id, meter.timeout_s, meter.read_flow_summary)
