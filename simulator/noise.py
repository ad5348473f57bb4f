"""Deterministic randomness as a pure function of (seed, channel, index).

A sequential RNG would make a curve depend on how often it is sampled; hashing the time
index instead gives the same value at the same simulated time whatever the step size.
"""

from __future__ import annotations

import math
import zlib

_MASK64 = (1 << 64) - 1


def channel_id(name: str) -> int:
    """Stable integer for a channel name (``hash(str)`` is salted per process)."""
    return zlib.crc32(name.encode("utf-8"))


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def unit(seed: int, channel: int, index: int, draw: int = 0) -> float:
    """Uniform value in [0, 1) for one (seed, channel, index, draw)."""
    mixed = _splitmix64((seed * 0x100000001B3) ^ (channel << 20) ^ (draw << 52))
    return _splitmix64(mixed ^ (index & _MASK64)) / 2.0**64


def smooth(seed: int, channel: int, t_s: float, period_s: float) -> float:
    """Value noise in [-1, 1]: random knots every ``period_s`` joined by a smoothstep."""
    position = t_s / period_s
    index = math.floor(position)
    fraction = position - index
    weight = fraction * fraction * (3.0 - 2.0 * fraction)
    left = unit(seed, channel, index)
    right = unit(seed, channel, index + 1)
    return 2.0 * (left + (right - left) * weight) - 1.0
