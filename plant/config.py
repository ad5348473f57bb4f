"""A plant's settings as one immutable value, loaded from the database for the cycle."""

from __future__ import annotations

from dataclasses import dataclass

from meter.drivers.ksem_tcp import KsemTcpConfig
from plant.models import Plant


@dataclass(frozen=True)
class PlantConfig:
    plant_id: int
    name: str
    time_zone: str
    installation_position: str
    meter: KsemTcpConfig | None


class PlantNotFound(Exception):
    pass


def load_config(plant_id: int) -> PlantConfig:
    plant = Plant.objects.select_related("meter").filter(pk=plant_id).first()
    if plant is None:
        raise PlantNotFound(f"plant {plant_id} does not exist")
    meter = getattr(plant, "meter", None)
    return PlantConfig(
        plant_id=plant.pk,
        name=plant.name,
        time_zone=plant.time_zone,
        installation_position=plant.installation_position,
        meter=KsemTcpConfig(meter.host, meter.port, meter.unit_id, meter.timeout_s, meter.read_flow_summary)
        if meter
        else None,
    )
