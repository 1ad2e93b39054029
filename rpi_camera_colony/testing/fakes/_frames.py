"""A frame clock thread shared by the camera fakes: calls ``on_frame(index, monotonic_ns)`` at a fixed rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class FrameTicker:
    def __init__(self, period_s: float, on_frame: Callable[[int, int], None]) -> None:
        self.period_s = period_s
        self._on_frame = on_frame
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-camera-sensor", daemon=True)
        self.frames = 0

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic() + self.period_s
        index = 0
        # pacing to the sensor's frame schedule; a stop ends it at once
        while not self._stop.wait(max(0.0, start + index * self.period_s - time.monotonic())):
            self._on_frame(index, int((start + index * self.period_s) * 1e9))
            self.frames += 1
            index += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join()
