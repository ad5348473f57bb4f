"""Counters and battery SoC in a JSON file, so a restarted simulator continues where it stopped."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from energy.state import EnergyCounters
from simulator.model import SavedState

FORMAT_VERSION = 1


class StateFileError(ValueError):
    """A state file that exists but cannot be used; the message names the file and the problem."""


def save_state(path: str | Path, state: SavedState) -> None:
    """Write atomically: a crash mid-write must not lose the counters."""
    target = Path(path)
    document = {
        "version": FORMAT_VERSION,
        "energy": state.energy.as_dict(),
        "phase_energy": [counters.as_dict() for counters in state.phase_energy],
        "battery_soc_pct": state.battery_soc_pct,
    }
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or ".")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(document, stream, indent=2)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_state(path: str | Path) -> SavedState | None:
    """The saved state, or ``None`` when the file does not exist yet."""
    source = Path(path)
    if not source.exists():
        return None
    try:
        document = json.loads(source.read_text(encoding="utf-8"))
        if document.get("version") != FORMAT_VERSION:
            raise StateFileError(f"{path}: unsupported version {document.get('version')!r}")
        phases = [_counters(item) for item in document["phase_energy"]]
        if len(phases) != 3:
            raise StateFileError(f"{path}: phase_energy must list 3 phases")
        soc = document.get("battery_soc_pct")
        return SavedState(
            energy=_counters(document["energy"]),
            phase_energy=(phases[0], phases[1], phases[2]),
            battery_soc_pct=None if soc is None else float(soc),
        )
    except StateFileError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateFileError(f"{path}: not a simulator state file ({exc})") from None


def _counters(values: Any) -> EnergyCounters:
    counters = EnergyCounters(**{name: float(value) for name, value in values.items()})
    if any(value < 0 for value in counters.as_dict().values()):
        raise StateFileError("energy counters cannot be negative")
    return counters
