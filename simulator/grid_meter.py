"""The grid meter's registers: the KSEM map, the PnP block, the energy-flow block and SunSpec.

The image is rebuilt only when the model has changed (each tick or override), not per request.
The server reads through :meth:`GridMeterRegisters.words`, which builds only the section a
request falls in (the product reads the KSEM map every cycle, the other blocks seldom): each
section holds exactly the words :func:`build_meter_image` gives its addresses.
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
# The sections of the image, each built on its own from the model: the KSEM map, the PnP block,
# the SunSpec chain, the energy-flow block. Their ranges are METER_RANGES, none adjacent to
# another section's, so every request that is not exception 2 lies within one section.
_SECTION_RANGES: tuple[tuple[tuple[int, int], ...], ...] = (
    (METER_RANGES[0], METER_RANGES[1]),
    (PNP_BLOCK,),
    ((SUNSPEC_BASE, SUNSPEC_LENGTH),),
    (FLOW_BLOCK,),
)
_SECTION_ZEROS = tuple({start + i: 0 for start, count in ranges for i in range(count)} for ranges in _SECTION_RANGES)
_SECTION_OF = {address: n for n, zeros in enumerate(_SECTION_ZEROS) for address in zeros}


class GridMeterRegisters:
    def __init__(self, model: PlantModel) -> None:
        self.model = model
        self._revision = -1
        self._image: dict[int, int] = {}
        self._info: tuple[DeviceInfo, dict[int, int]] | None = None
        # Per section: (revision, words by address).
        self._sections: list[tuple[int, dict[int, int]]] = [(-1, {})] * len(_SECTION_RANGES)

    @property
    def ranges(self) -> Sequence[tuple[int, int]]:
        return METER_RANGES

    def image(self) -> Mapping[int, int]:
        revision = self.model.revision
        if revision != self._revision:
            self._image = build_meter_image(self.model, self._device_info_words)
            self._revision = revision
        return self._image

    def words(self, address: int, count: int) -> list[int]:
        """The words of ``address`` .. ``address + count - 1`` as :meth:`image` has them,
        building only the section ``address`` lies in (the server asks only for addresses
        within ``ranges``, so the whole request lies in that section)."""
        section = _SECTION_OF.get(address)
        if section is None:
            return [0] * count
        revision = self.model.revision
        built, words = self._sections[section]
        if built != revision:
            words = self._build_section(section)
            self._sections[section] = (revision, words)
        get = words.get
        return [get(a, 0) for a in range(address, address + count)]

    def _build_section(self, section: int) -> dict[int, int]:
        """The words :func:`build_meter_image` gives this section's addresses, from the same
        encoders of the same model values."""
        words = dict(_SECTION_ZEROS[section])
        model = self.model
        if section == 0:
            words.update(encode_reading(model.reading()))
        elif section == 1:
            words.update(self._device_info_words(model.device_info()))
        elif section == 2:
            words.update(encode_sunspec(model.reading(), model.device_info(), SUNSPEC_BASE))
        else:
            reading, flow = model.snapshot()
            words.update(encode_flow(flow, reading.active_power_w))
        return words

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
