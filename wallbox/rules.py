"""The rules that span rows (addresses on a line, single-phase types, the mains connection, Time
Mode), raised as Django ``ValidationError`` naming the field, so that forms and the API report the
same messages; and the small edits the pages make (Time Mode, manual pause)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils.translation import gettext as _

from energy import config as energy
from wallbox.models import MainsSettings, TimeModeSchedule, Wallbox, line_name, on_interface, validate_time_mode

# Boxes on one line get 100, 101, ... (WB-2).
MAX_BOXES_PER_LINE = 16


def _add(errors: dict[str, list[str]], name: str, message: str) -> None:
    errors.setdefault(name, []).append(message)


def boxes_on(line: str) -> models.QuerySet[Wallbox]:
    """The boxes on a line (:attr:`Wallbox.line`: ``A``, ``B`` or a gateway's ``host:port``), of
    every plant: RS485 A and B belong to the installation, a gateway to whoever is wired to it."""
    if on_interface(line):
        return Wallbox.objects.filter(interface=line)
    host, _sep, port = line.rpartition(":")
    return Wallbox.objects.filter(
        interface=Wallbox.Interface.GATEWAY, gateway_host=host.strip("[]"), gateway_port=int(port)
    )


def used_addresses(line: str, exclude_pk: int | None = None) -> set[int]:
    """Addresses on a line taken by set-up boxes and promised to pending ones."""
    boxes = boxes_on(line)
    if exclude_pk is not None:
        boxes = boxes.exclude(pk=exclude_pk)
    return set(boxes.values_list("address", flat=True))


def next_address(line: str, exclude_pk: int | None = None) -> int | None:
    used = used_addresses(line, exclude_pk)
    for address in range(energy.WALLBOX_ADDRESS, energy.WALLBOX_ADDRESS + MAX_BOXES_PER_LINE):
        if address not in used:
            return address
    return None


def check_wallbox(wallbox: Wallbox) -> None:
    """Refuse a box that breaks a rule, naming the field (``__all__`` for line-wide rules)."""
    errors: dict[str, list[str]] = {}
    others = Wallbox.objects.filter(plant=wallbox.plant).exclude(pk=wallbox.pk) if wallbox.plant.pk else None
    if others is not None and others.filter(name=wallbox.name).exists():
        _add(errors, "name", _("This plant already has a wallbox named %(name)s.") % {"name": wallbox.name})
    if wallbox.type not in energy.WALLBOX_TYPES:
        _add(errors, "type", _("%(type)s is not a wallbox type this manager knows.") % {"type": wallbox.type})
    elif wallbox.max_phases == 1 and wallbox.phase_usage != Wallbox.PhaseUsage.SINGLE:
        _add(
            errors,
            "phase_usage",
            _("A %(type)s charges on one phase only: choose single-phase.")
            % {"type": Wallbox.Type(wallbox.type).label},
        )
    if wallbox.interface not in Wallbox.Interface.values:
        _add(errors, "interface", _("Choose RS485 A, RS485 B or an RS485 gateway."))
    elif wallbox.interface == Wallbox.Interface.GATEWAY and not wallbox.gateway_host:
        _add(errors, "gateway_host", _("A box on an RS485 gateway needs the gateway's IP address or host name."))
    elif wallbox.interface != Wallbox.Interface.GATEWAY and wallbox.gateway_host:
        _add(
            errors,
            "gateway_host",
            _("Only a box on an RS485 gateway has a gateway host: choose the RS485 gateway, or clear the host."),
        )
    else:
        _check_line(wallbox, errors)
    if not energy.ROTATIONS.get(wallbox.rotation):
        _add(errors, "rotation", _("Choose one of the phase rotations L1/L2/L3, L2/L3/L1, L3/L1/L2."))
    if errors:
        raise ValidationError(errors)


def _check_line(wallbox: Wallbox, errors: dict[str, list[str]]) -> None:
    """A free address on the box's line, one new box at 50 at a time."""
    line = boxes_on(wallbox.line).exclude(pk=wallbox.pk)
    name = line_name(wallbox.line)
    moved = wallbox.pk is not None and _stored_line(wallbox) != wallbox.line
    if moved and line.filter(address=wallbox.address).exists():
        _add(
            errors,
            "interface",
            _("Address %(address)d on RS485 %(interface)s is already used by another wallbox.")
            % {"address": wallbox.address, "interface": name},
        )
    elif not wallbox.pk:
        if line.filter(setup=Wallbox.Setup.PENDING).exists():
            _add(
                errors,
                "interface",
                _("Another new wallbox on RS485 %(interface)s still waits for its setup at address 50; "
                  "add this one once that is done, so only one box answers at 50.")
                % {"interface": name},
            )  # fmt: skip
        elif next_address(wallbox.line, wallbox.pk) is None:
            _add(errors, "interface", _("RS485 %(interface)s has no free wallbox address left.") % {"interface": name})


def _stored_line(wallbox: Wallbox) -> str | None:
    stored = Wallbox.objects.filter(pk=wallbox.pk).first() if wallbox.pk else None
    return stored.line if stored is not None else None


def check_mains(mains: MainsSettings) -> None:
    errors: dict[str, list[str]] = {}
    if mains.phases not in (1, 3):
        _add(errors, "phases", _("A mains connection has 1 or 3 phases."))
    if errors:
        raise ValidationError(errors)


def parse_time_mode(text: str) -> list[list[str]]:
    """The editor's grid (seven ``;``-separated weekdays of 24 ``,``-separated modes) as Time Mode days."""
    days = [day.split(",") for day in (text or "").strip().split(";")]
    try:
        validate_time_mode(days)
    except ValidationError as error:
        raise ValidationError({"days": error.messages}) from error
    return days


def format_time_mode(days: list[list[str]]) -> str:
    return ";".join(",".join(day) for day in days)


def save_time_mode(wallbox: Wallbox, days: list[list[str]]) -> None:
    try:
        validate_time_mode(days)
    except ValidationError as error:
        raise ValidationError({"days": error.messages}) from error
    TimeModeSchedule.objects.update_or_create(wallbox=wallbox, defaults={"days": days})


def set_manual_pause(wallbox: Wallbox, paused: bool) -> None:
    """Pause or restart charging by hand (WB-3); the controller keeps a paused box paused."""
    wallbox.manual_pause = paused
    # save(), not a queryset update: the save announces the change to the next cycle.
    wallbox.save(update_fields=["manual_pause"])


def next_position(plant: Any) -> int:
    last = Wallbox.objects.filter(plant=plant).aggregate(models.Max("position"))["position__max"]
    return 0 if last is None else last + 1


def error_dict(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return dict(error.message_dict)
    return {NON_FIELD_ERRORS: list(error.messages)}
