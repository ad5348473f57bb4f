"""The slots a car's charging plan is planned on (issue 19.3): the stored forecast's PV surplus
(PV less the house, :func:`forecast.services.latest`) and the purchase price of each 15-minute
slot from the plant's tariff, dynamic prices included (:func:`tariffs.services.price_book`).

Handed to :data:`wallbox.plans.slot_source` by ``plant.apps``: wallbox/ sits below forecast/ and
beside tariffs/, so it asks through that hook."""

from __future__ import annotations

import datetime as dt
from typing import Any

from energy import chargeplan as cp
from forecast import services as forecasts
from tariffs import services as tariffs
from tariffs.models import TariffSettings


def slots(plant: Any, start: dt.datetime, end: dt.datetime) -> tuple[tuple[cp.SlotInput, ...], str]:
    forecast = forecasts.latest(plant.pk)
    surplus = {}
    if forecast is not None:
        surplus = {cp.slot_floor(s.start): max(0.0, s.pv_w - s.load_w) for s in forecast.slots}
    book = tariffs.price_book(plant, "purchase", start, end)
    out = []
    moment = cp.slot_floor(start)
    while moment < end:
        price = book.price_at(moment)
        out.append(cp.SlotInput(moment, surplus.get(moment, 0.0), None if price is None else float(price)))
        moment += cp.SLOT
    contract = TariffSettings.objects.filter(plant=plant).first()  # read only: the cycle's settings load
    return tuple(out), contract.currency if contract is not None else "EUR"
