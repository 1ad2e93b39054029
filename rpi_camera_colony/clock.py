"""Clocks that stamp frames and TTL events.

A camera clock counts microseconds like a sensor timestamp does. :class:`CameraClock` runs on the system's monotonic
clock and can be given an offset and a drift, so a simulated camera can disagree with the conductor's clock in
known ways.
"""

from __future__ import annotations

import time


class CameraClock:
    """Monotonic microsecond clock, optionally offset (seconds) and drifting (parts per million)."""

    def __init__(self, *, offset_s: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.offset_s = offset_s
        self.drift_ppm = drift_ppm
        self._origin_ns = time.monotonic_ns()

    def from_monotonic(self, monotonic_s: float) -> int:
        """The camera-clock time (µs) at a given ``time.monotonic()`` value."""
        elapsed = monotonic_s - self._origin_ns / 1e9
        return round((self._origin_ns / 1e3) + elapsed * 1e6 * (1.0 + self.drift_ppm * 1e-6) + self.offset_s * 1e6)

    def now_us(self) -> int:
        return self.from_monotonic(time.monotonic())
