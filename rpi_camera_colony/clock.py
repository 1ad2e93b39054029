"""Clocks and clock-offset estimation.

- The **conductor's clock** is the central machine's wall clock in microseconds (:func:`conductor_now_us`): every
  timing result is given on it, so video lines up with whatever else that machine records.
- A **camera clock** counts microseconds like a sensor timestamp. :class:`CameraClock` runs on the system's
  monotonic clock and can be given an offset and a drift (simulated cameras), so tests know the truth:
  ``camera_us = monotonic_us * (1 + drift_ppm / 1e6) + offset_s * 1e6``.
- :class:`OffsetEstimator` turns request/reply samples (Cristian's algorithm, as NTP does per sample) into a
  mapping camera clock -> conductor clock: in each burst only the sample with the lowest round trip is kept, and a
  line (offset + drift) is fitted through the recent burst winners.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional


def conductor_now_us() -> int:
    """The conductor's clock: this machine's wall clock, in microseconds since the epoch."""
    return time.time_ns() // 1000


class CameraClock:
    """Monotonic microsecond clock, optionally offset (seconds) and drifting (parts per million)."""

    def __init__(self, *, offset_s: float = 0.0, drift_ppm: float = 0.0) -> None:
        self.offset_s = offset_s
        self.drift_ppm = drift_ppm
        self._rate = 1.0 + drift_ppm * 1e-6

    def from_monotonic(self, monotonic_s: float) -> int:
        """The camera-clock time (µs) at a given ``time.monotonic()`` value."""
        return round(monotonic_s * 1e6 * self._rate + self.offset_s * 1e6)

    def to_monotonic(self, camera_us: float) -> float:
        """The ``time.monotonic()`` value at which the camera clock reads ``camera_us``."""
        return (camera_us - self.offset_s * 1e6) / self._rate / 1e6

    def now_us(self) -> int:
        return self.from_monotonic(time.monotonic())


def boottime_clock() -> CameraClock:
    """A camera clock on CLOCK_BOOTTIME, the clock of libcamera's SensorTimestamp (on Linux it differs from the
    monotonic clock only by the time the machine spent suspended, measured here once, back to back)."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    if boottime is None:  # not Linux: libcamera does not run there either
        return CameraClock()
    best: Optional[tuple[float, float]] = None
    for _ in range(5):
        before = time.monotonic()
        boot = time.clock_gettime(boottime)
        after = time.monotonic()
        if best is None or after - before < best[0]:
            best = (after - before, boot - (before + after) / 2)
    assert best is not None
    return CameraClock(offset_s=best[1])


@dataclass(frozen=True)
class ClockSample:
    """One request/reply exchange: sent and received on the camera clock, answered on the conductor's clock."""

    sent_us: int
    received_us: int
    conductor_us: int

    @property
    def rtt_us(self) -> int:
        return self.received_us - self.sent_us

    @property
    def camera_us(self) -> float:
        return (self.sent_us + self.received_us) / 2

    @property
    def offset_us(self) -> float:
        """conductor - camera, assuming the request and the reply took equally long."""
        return self.conductor_us - self.camera_us


@dataclass(frozen=True)
class ClockModel:
    """conductor_us = camera_us + offset_us + drift * (camera_us - reference_us)."""

    reference_us: float
    offset_us: float
    drift: float  # dimensionless (ppm * 1e-6)
    samples: int
    rtt_us: int

    def to_conductor(self, camera_us: float) -> int:
        return round(camera_us + self.offset_us + self.drift * (camera_us - self.reference_us))

    def to_camera(self, conductor_us: float) -> int:
        guess = conductor_us - self.offset_us
        return round(guess - self.drift * (guess - self.reference_us))


class OffsetEstimator:
    """Collects clock samples and keeps a current :class:`ClockModel` (thread-safe to read).

    Args:
        keep: how many burst winners the fit uses (older ones are dropped, so drift is tracked).
    """

    def __init__(self, *, keep: int = 30) -> None:
        self._lock = threading.Lock()
        self._burst: list[ClockSample] = []
        self._winners: deque[ClockSample] = deque(maxlen=keep)
        self.model: Optional[ClockModel] = None
        self.sample_count = 0

    def add(self, sample: ClockSample) -> None:
        with self._lock:
            self._burst.append(sample)
            self.sample_count += 1

    def end_burst(self) -> Optional[ClockSample]:
        """Keep the burst's lowest-round-trip sample, refit, and return that sample."""
        with self._lock:
            if not self._burst:
                return None
            best = min(self._burst, key=lambda s: s.rtt_us)
            self._burst = []
            self._winners.append(best)
            self.model = self._fit(list(self._winners))
            return best

    @staticmethod
    def _fit(winners: list[ClockSample]) -> ClockModel:
        return fit_clock(
            [s.camera_us for s in winners], [s.offset_us for s in winners], [s.rtt_us for s in winners], tracking=True
        )

    def summary(self) -> dict[str, float]:
        model = self.model
        if model is None:
            return {}
        return {
            "offset_us": round(model.offset_us, 1),
            "drift_ppm": round(model.drift * 1e6, 3),
            "rtt_us": model.rtt_us,
            "samples": self.sample_count,
        }


#: The shortest span of samples (µs) over which the fit estimates drift; shorter spans give an offset only.
MIN_DRIFT_SPAN_US = 2e6
#: Each sample's round trip is compared with the shortest of this many samples before and after it.
RTT_NEIGHBOURS = 8


def fit_clock(
    camera_us: Sequence[float], offset_us: Sequence[float], rtt_us: Sequence[float], *, tracking: bool
) -> ClockModel:
    """The one clock fit: ``conductor - camera`` offset as a line over the camera clock, from burst winners in time
    order (used live by :class:`OffsetEstimator` and afterwards by :func:`rpi_camera_colony.session.clock_fit`).

    Winners of bursts taken while the machine or network was busy have long round trips and may be asymmetric: those
    over twice the shortest round trip (+20 µs) among the :data:`RTT_NEIGHBOURS` samples on either side are left out
    (so the fit follows a link whose delay changes). The rest are fit by least squares weighted with
    1/rtt², over at least 3 samples spanning :data:`MIN_DRIFT_SPAN_US`; a shorter span gives no drift. With
    ``tracking`` (live) the latest sample always counts, so the model follows the clock now, and a short span takes
    the offset of its shortest round trip (the latest of equals; a busy sample, e.g. one taken while every agent of
    a colony was starting, may be off by half its long round trip), with that round trip as the model's; without
    (a whole recording afterwards) a short span takes the weighted mean offset.

    Raises:
        ValueError: without samples.
    """
    if len(camera_us) == 0:
        raise ValueError("no clock samples to fit")
    count = len(camera_us)
    # The link's delay changes (an idle network at connect, a busy one while cameras record): each sample is judged
    # against the shortest round trip among its neighbours, not the shortest ever seen.
    local = [min(rtt_us[max(0, i - RTT_NEIGHBOURS) : i + RTT_NEIGHBOURS + 1]) for i in range(count)]
    chosen = [i for i in range(count) if rtt_us[i] <= 2 * local[i] + 20]
    last = len(camera_us) - 1
    if tracking and chosen[-1] != last:
        chosen.append(last)
    xs = [float(camera_us[i]) for i in chosen]
    ys = [float(offset_us[i]) for i in chosen]
    weights = [1.0 / max(1.0, float(rtt_us[i])) ** 2 for i in chosen]
    rtt = int(min(rtt_us[i] for i in chosen))
    reference = xs[-1]
    total = sum(weights)
    mean_x = sum(w * x for w, x in zip(weights, xs)) / total
    mean_y = sum(w * y for w, y in zip(weights, ys)) / total
    if len(xs) < 3 or max(xs) - min(xs) < MIN_DRIFT_SPAN_US:
        if tracking:  # the sample with the shortest round trip (the latest of equals): a busy one may be far off
            best = min(range(len(xs)), key=lambda i: (rtt_us[chosen[i]], -i))
            return ClockModel(reference, ys[best], 0.0, len(xs), int(rtt_us[chosen[best]]))
        return ClockModel(reference, mean_y, 0.0, len(xs), rtt)
    var = sum(w * (x - mean_x) ** 2 for w, x in zip(weights, xs))
    slope = sum(w * (x - mean_x) * (y - mean_y) for w, x, y in zip(weights, xs, ys)) / var if var > 0 else 0.0
    return ClockModel(reference, mean_y + slope * (reference - mean_x), slope, len(xs), rtt)
