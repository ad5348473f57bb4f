"""Meter drivers (MET-2): KSEM/SunSpec layout over Modbus TCP (a KSEM, the product's own slave, the
plant simulator), an Eastron SDM630 over Modbus RTU; any of them behind current transformers."""

from __future__ import annotations

from energy.config import KsemTcpConfig
from meter.drivers.ct import CtScaledMeter, MeterDevice
from meter.drivers.ksem_tcp import KsemTcpMeter
from meter.drivers.sdm630_rtu import Sdm630Config, Sdm630RtuMeter


def meter_driver(config: KsemTcpConfig | Sdm630Config, ct_primary_a: int | None = None) -> MeterDevice:
    """The driver for ``config``, scaled by the CT ratio when the meter measures through CTs."""
    meter: MeterDevice = KsemTcpMeter(config) if isinstance(config, KsemTcpConfig) else Sdm630RtuMeter(config)
    return CtScaledMeter(meter, ct_primary_a) if ct_primary_a else meter
