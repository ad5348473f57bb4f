"""Current transformers (MET-2): a meter behind CTs measures the secondary current; the plant's
values are the primary ones. Primary 1-5000 A on a 5 A secondary: currents, powers and energies
are multiplied by primary / 5; voltages, power factors and the frequency stay as measured."""

from __future__ import annotations

from dataclasses import replace

from energy.state import EnergyCounters, MeterReading, PhaseReading

SECONDARY_A = 5
MIN_PRIMARY_A = 1
MAX_PRIMARY_A = 5000
# The common ratios offered in a list (primary A on 5 A); any other primary 1-5000 A is allowed.
COMMON_PRIMARIES_A = (
    50,
    75,
    100,
    150,
    200,
    250,
    300,
    400,
    500,
    600,
    750,
    800,
    1000,
    1200,
    1500,
    2000,
    2500,
    3000,
    4000,
    5000,
)


NONE = "none"
OTHER = "other"


class CtError(ValueError):
    """A refused current-transformer setting, naming the field it is about."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _whole_amps(value: object, field: str) -> int:
    if isinstance(value, bool):
        raise CtError(field, "Enter a whole number of amperes.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise CtError(field, "Enter a whole number of amperes.")


def checked_primary(primary: object, secondary: object = SECONDARY_A) -> int | None:
    """The CT primary to store from what a person or a client sent: ``None`` (no transformer) or
    1-5000 A on a 5 A secondary. Any other secondary is refused: the meter's current inputs are
    x/5 A."""
    if primary is None or primary == "":
        return None
    amps = _whole_amps(primary, "primary_a")
    if not MIN_PRIMARY_A <= amps <= MAX_PRIMARY_A:
        raise CtError("primary_a", f"The primary current must be {MIN_PRIMARY_A}-{MAX_PRIMARY_A} A, not {amps} A.")
    if secondary is not None and secondary != "" and _whole_amps(secondary, "secondary_a") != SECONDARY_A:
        raise CtError(
            "secondary_a", f"Only current transformers with a {SECONDARY_A} A secondary fit the meter's inputs (x/5 A)."
        )
    return amps


def from_choice(choice: str, other_primary: object = None, other_secondary: object = SECONDARY_A) -> int | None:
    """The page's choice: ``none``, a common primary from the list, or ``other`` with its own values."""
    if choice == NONE:
        return None
    if choice == OTHER:
        if other_primary is None or other_primary == "":
            raise CtError("primary_a", "Enter the primary current of the transformer.")
        return checked_primary(other_primary, other_secondary)
    if choice.isdigit() and int(choice) in COMMON_PRIMARIES_A:
        return int(choice)
    raise CtError("ct", f"Choose a ratio from the list, none or other (not {choice!r}).")


def ratio(primary_a: int | None) -> float:
    """Scale factor for a primary current (None: no transformer, the meter measures directly)."""
    if primary_a is None:
        return 1.0
    if not MIN_PRIMARY_A <= primary_a <= MAX_PRIMARY_A:
        raise ValueError(f"CT primary must be {MIN_PRIMARY_A}-{MAX_PRIMARY_A} A, got {primary_a}")
    return primary_a / SECONDARY_A


def _counters(counters: EnergyCounters, factor: float) -> EnergyCounters:
    return EnergyCounters(**{name: value * factor for name, value in counters.as_dict().items()})


def _phase(phase: PhaseReading, factor: float) -> PhaseReading:
    return replace(
        phase,
        current_a=phase.current_a * factor,
        active_power_w=phase.active_power_w * factor,
        reactive_power_var=phase.reactive_power_var * factor,
        apparent_power_va=phase.apparent_power_va * factor,
    )


def scale_reading(reading: MeterReading, factor: float) -> MeterReading:
    if factor == 1.0:
        return reading
    phases = reading.phases
    energies = reading.phase_energy
    return replace(
        reading,
        active_power_w=reading.active_power_w * factor,
        reactive_power_var=reading.reactive_power_var * factor,
        apparent_power_va=reading.apparent_power_va * factor,
        phases=(_phase(phases[0], factor), _phase(phases[1], factor), _phase(phases[2], factor)),
        energy=_counters(reading.energy, factor),
        phase_energy=(_counters(energies[0], factor), _counters(energies[1], factor), _counters(energies[2], factor)),
    )
