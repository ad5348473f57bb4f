"""Options a plant has unlocked (WB-1, ACT-1): the one check pages, menus and the API ask.

An installer switches an option on in the admin (``PlantOption``); activation codes will set
the same rows later, so nothing that asks has to change.
"""

from __future__ import annotations

from plant.models import Plant, PlantOption

WALLBOX = PlantOption.Option.WALLBOX.value
OPTIONS = tuple(PlantOption.Option.values)


def is_option_active(plant: Plant | None, option: str) -> bool:
    if option not in OPTIONS:
        raise ValueError(f"unknown option {option!r}; known: {', '.join(OPTIONS)}")
    return plant is not None and plant.is_option_active(option)


def set_option(plant: Plant, option: str, active: bool = True) -> None:
    """Switch an option on or off for ``plant`` (the admin and, later, activation codes)."""
    if option not in OPTIONS:
        raise ValueError(f"unknown option {option!r}; known: {', '.join(OPTIONS)}")
    PlantOption.objects.update_or_create(plant=plant, option=option, defaults={"active": active})
    plant.__dict__.pop("_active_options", None)
