"""Options a plant has unlocked (WB-1, INV-3, ACT-1): the one check pages, menus and the API ask,
and the one way to release one: an activation code bound to the plant's serial number.

The code itself is checked by :mod:`portal.activation` (keyed, bound to the serial); wrong codes
count against the login guard (:mod:`portal.guard`) of the person's address and of the plant's
serial, so codes cannot be guessed faster than passwords.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from plant.models import Plant, PlantOption
from portal import activation, guard

WALLBOX = PlantOption.Option.WALLBOX.value
BATTERY_MANAGEMENT = PlantOption.Option.BATTERY_MANAGEMENT.value
OPTIONS = tuple(PlantOption.Option.values)
assert set(OPTIONS) == set(activation.OPTIONS), "plant options and activation options differ"


def is_option_active(plant: Plant | None, option: str) -> bool:
    if option not in OPTIONS:
        raise ValueError(f"unknown option {option!r}; known: {', '.join(OPTIONS)}")
    return plant is not None and plant.is_option_active(option)


def set_option(
    plant: Plant, option: str, active: bool = True, *, source: str = PlantOption.Source.DEMO, code: str = ""
) -> None:
    """Release (or withdraw) an option for ``plant`` without a code: the demo bootstrap, tests,
    benchmarks. People release options with :func:`activate`."""
    if option not in OPTIONS:
        raise ValueError(f"unknown option {option!r}; known: {', '.join(OPTIONS)}")
    PlantOption.objects.update_or_create(
        plant=plant, option=option, defaults={"active": active, "source": source, "code": code}
    )
    plant.__dict__.pop("_active_options", None)


@dataclass(frozen=True)
class OptionRow:
    option: str
    label: str
    active: bool
    source: str
    activated_at: str | None


def option_rows(plant: Plant) -> list[OptionRow]:
    """Every option, released or not, in the order of the activation page."""
    released = {o.option: o for o in PlantOption.objects.filter(plant=plant, active=True)}
    rows = []
    for value, label in PlantOption.Option.choices:
        row = released.get(value)
        rows.append(
            OptionRow(
                option=value,
                label=str(label),
                active=row is not None,
                source=row.source if row else "",
                activated_at=timezone.localtime(row.activated_at).isoformat() if row else None,
            )
        )
    return rows


def _throttle_name(plant: Plant) -> str:
    return f"activation:{plant.serial_number}"


def activate(plant: Plant, text: str, client: str | None) -> str:
    """Check ``text`` against ``plant``'s serial and release its option; returns the option.

    :class:`portal.activation.ActivationError` with the reason when the code is refused: not ten
    digits, no key on this device, not valid for this serial, or too many wrong codes (``locked``:
    the address and the serial wait like after wrong passwords)."""
    code = activation.normalise_code(text)  # a typing slip is no guess: not counted
    name = _throttle_name(plant)
    lockout = guard.locked_out(client, name)
    if lockout is not None:
        raise activation.ActivationError(
            f"Too many wrong codes. Try again in {lockout.minutes} minute{'s' if lockout.minutes != 1 else ''}.",
            "locked",
        )
    try:
        checked = activation.check(activation.vendor_key(), plant.serial_number, code)
    except activation.ActivationError as error:
        if error.reason == "invalid":
            guard.record_failure(client, name)
        raise
    guard.clear_failures(client, None)
    with transaction.atomic():
        set_option(plant, checked.option, True, source=PlantOption.Source.CODE, code=checked.code)
    return checked.option
