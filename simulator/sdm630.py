"""A simulated Eastron SDM630 (MET-2): the grid meter's readings in the SDM630's register map.

Served as Modbus RTU over TCP (a serial server on the network), unit 1, input registers (FC04);
the product's SDM630 driver reaches it as ``socket://host:port``. The image is rebuilt only
when the model has changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from meter import sdm630
from simulator.model import PlantModel

SDM630_UNIT_IDS = (sdm630.UNIT_ID,)
SDM630_RANGES: tuple[tuple[int, int], ...] = ((0x0000, 82), (0x015A, 12))


class Sdm630Registers:
    unit_ids = SDM630_UNIT_IDS

    def __init__(self, model: PlantModel) -> None:
        self.model = model
        self._revision = -1
        self._image: dict[int, int] = {}

    @property
    def ranges(self) -> Sequence[tuple[int, int]]:
        return SDM630_RANGES

    def image(self) -> Mapping[int, int]:
        revision = self.model.revision
        if revision != self._revision:
            reading, _flow = self.model.snapshot()
            image = {start + i: 0 for start, count in SDM630_RANGES for i in range(count)}
            image.update(sdm630.encode(sdm630.reading_to_values(reading)))
            self._image = image
            self._revision = revision
        return self._image
