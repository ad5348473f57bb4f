"""The grid meter's registers: the KSEM map, the PnP block, the energy-flow block and SunSpec.

The image is rebuilt only when the model has changed (each tick or override), not per request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from energy.state import DeviceInfo
from meter.registers import FLOW_BLOCK, PNP_BLOCK, encode_device_info, encode_flow, encode_reading
from meter.sunspec import SUNSPEC_BASE, SUNSPEC_LENGTH, encode_sunspec
from simulator.model import PlantModel

# The KSEM answers the same map on several unit ids; 1 for SunSpec readers, 71 for KOSTAL's own.
METER_UNIT_IDS = (1, 71)
METER_RANGES: tuple[tuple[int, int], ...] = (
    (0, 148),  # instantaneous totals 0-27 and per phase 40-147, gaps read as 0
    (512, 280),  # energy totals 512-551 and per phase 592-791
    PNP_BLOCK,
    (SUNSPEC_BASE, SUNSPEC_LENGTH),
    FLOW_BLOCK,
)
_ZEROS = {start + i: 0 for start, count in METER_RANGES for i in range(count)}


class GridMeterRegisters:
    def __init__(self, model: PlantModel) -> None:
        self.model = model
        self._revision = -1
        self._image: dict[int, int] = {}
        self._info: tuple[DeviceInfo, dict[int, int]] | None = None

    @property
    def ranges(self) -> Sequence[tuple[int, int]]:
        return METER_RANGES

    def image(self) -> Mapping[int, int]:
        revision = self.model.revision
        if revision != self._revision:
            self._image = build_meter_image(self.model, self._device_info_words)
            self._revision = revision
        return self._image

    def _device_info_words(self, info: DeviceInfo) -> dict[int, int]:
        # The nameplate never changes while the simulator runs: encoded once.
        if self._info is None or self._info[0] != info:
            self._info = (info, encode_device_info(info))
        return self._info[1]


def build_meter_image(
    model: PlantModel, device_info_words: Callable[[DeviceInfo], dict[int, int]] = encode_device_info
) -> dict[int, int]:
    reading, flow = model.snapshot()
    info = model.device_info()
    image = dict(_ZEROS)
    image.update(encode_reading(reading))
    image.update(device_info_words(info))
    image.update(encode_flow(flow, reading.active_power_w))
    image.update(encode_sunspec(reading, info, SUNSPEC_BASE))
    return image
