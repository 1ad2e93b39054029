"""Simulated TTL lines: the output line is driven like a real pin (levels recorded), input edges are injected."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Optional

from rpi_camera_colony.acquisition.ttl.base import EdgeCallback, TTLBackend
from rpi_camera_colony.acquisition.ttl.pulses import PulseTrain
from rpi_camera_colony.clock import CameraClock
from rpi_camera_colony.exc import BackendError

logger = logging.getLogger(__name__)


class SimulatedTTL(TTLBackend):
    """TTL lines without hardware.

    :attr:`pulses` keeps the start times (µs) of the most recent output pulses and :attr:`line` the levels the
    output line went through (``time.monotonic()``, level), driven by the same :class:`~.pulses.PulseTrain` as the
    hardware backends; :meth:`inject_edge` feeds an input edge as if a sync box had driven the input pin.
    """

    name = "simulated"

    def __init__(self, *, clock: Optional[CameraClock] = None, keep_pulses: int = 100_000) -> None:
        super().__init__(clock=clock)
        self.pulses: deque[int] = deque(maxlen=keep_pulses)
        self.line: deque[tuple[float, int]] = deque(maxlen=2 * keep_pulses)
        self.pulse_count = 0
        self._train: Optional[PulseTrain] = None
        self.out_pin = -1
        self.in_pin = -1
        self.out_duration = 0.0
        self._on_edge: Optional[EdgeCallback] = None
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def setup(self, *, out_pin: int, in_pin: int, out_duration: float) -> None:
        if out_pin >= 0 and out_pin == in_pin:
            raise BackendError(f"ttl_out_pin and ttl_in_pin are both {out_pin}: use two different pins")
        self._close_train()
        self.out_pin, self.in_pin, self.out_duration = out_pin, in_pin, out_duration
        if out_pin >= 0:
            self._train = PulseTrain(lambda level: self.line.append((time.monotonic(), level)), out_duration)

    def pulse(self) -> int:
        train = self._train
        if train is None:
            return self.clock.now_us()
        rise = self.clock.from_monotonic(train.pulse())
        self.pulses.append(rise)
        self.pulse_count += 1
        return rise

    def _close_train(self) -> None:
        if self._train is not None:
            self._train.close()
            self._train = None

    def drain(self) -> None:
        if self._train is not None:
            self._train.drain()

    def watch(self, on_edge: Optional[EdgeCallback]) -> None:
        with self._lock:
            self._on_edge = on_edge

    def inject_edge(self, level: int = 1, timestamp_us: Optional[int] = None) -> bool:
        """Feed one input edge; returns False when the input line is disabled or nobody watches it."""
        with self._lock:
            callback = self._on_edge
        if self.in_pin < 0 or callback is None:
            return False
        callback(1 if level else 0, self.clock.now_us() if timestamp_us is None else timestamp_us)
        return True

    def schedule_edges(self, edges: list[tuple[float, int]]) -> None:
        """Fire input edges at given ``time.monotonic()`` times, as a sync box wired to the pin would.

        Each edge is stamped with the instant the box switched, as a kernel GPIO edge timestamp would be; the
        callback itself runs when this thread gets to it.
        """
        thread = threading.Thread(target=self._play, args=(sorted(edges),), name="rcc-sim-syncbox", daemon=True)
        thread.start()

    def _play(self, edges: list[tuple[float, int]]) -> None:
        for when, level in edges:
            wait = when - time.monotonic()
            if wait > 0 and self._closed.wait(wait):  # pacing to the box's schedule
                return
            self.inject_edge(level, self.clock.from_monotonic(when))

    def close(self) -> None:
        self._closed.set()
        self.watch(None)
        self._close_train()
